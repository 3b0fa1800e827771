package session

// EventType says what happened to a session.
type EventType int

// The events a Listener receives.
const (
	Created EventType = iota + 1
	Destroyed
)

func (t EventType) String() string {
	switch t {
	case Created:
		return "created"
	case Destroyed:
		return "destroyed"
	}
	return "unknown"
}

// Reason says why a session was destroyed.
type Reason int

// The reasons a session is destroyed.
const (
	Invalidated Reason = iota + 1
	Expired
)

func (r Reason) String() string {
	switch r {
	case Invalidated:
		return "invalidated"
	case Expired:
		return "expired"
	}
	return ""
}

// Event is a session's creation or destruction. Each session is created once
// and destroyed at most once.
type Event struct {
	Type   EventType
	ID     string
	Reason Reason // for Destroyed
}

// Listener receives events. It is called synchronously on the goroutine that
// caused the event, so it must return quickly and must not call back into the
// session that the event names.
type Listener func(Event)

func (m *Manager) emit(e Event) {
	if e.Type == Destroyed {
		m.metrics.Destroyed(e.Reason)
	}
	for _, l := range m.opts.Listeners {
		l(e)
	}
}
