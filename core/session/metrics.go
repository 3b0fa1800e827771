package session

import "time"

// Outcome says how a request that passed through the filter was served.
// Each request has exactly one: the first way its session was found (or
// not). The set is closed, so that a metric labelled by it stays small.
type Outcome int

// The outcomes of a request.
const (
	// OutcomeNone: the request used no session (it never asked for one, or
	// asked with Existing and named none that exists).
	OutcomeNone Outcome = iota
	// OutcomeLocal: the session was in memory here.
	OutcomeLocal
	// OutcomeMigratedIn: another node held it and handed it over.
	OutcomeMigratedIn
	// OutcomeRestored: its holder died and it was restored from a backup.
	OutcomeRestored
	// OutcomeLoaded: it came back from the store (evicted, or kept by a
	// farm that shut down).
	OutcomeLoaded
	// OutcomeCreated: the request started a new session.
	OutcomeCreated
	// OutcomeError: finding or creating the session failed (lock timeout,
	// farm undecided, store down); the application got the error. A
	// Relocator reports it too, for a request it proxied to the session's
	// holder that did not answer it whole.
	OutcomeError
	// OutcomeProxied and OutcomeRedirected: a Relocator sent the request to
	// the session's holder (and, proxied, got its answer); reported by the
	// Relocator, not the filter.
	OutcomeProxied
	OutcomeRedirected

	numOutcomes = int(OutcomeRedirected) + 1
)

var outcomeNames = [numOutcomes]string{"none", "local", "migrated_in", "restored", "loaded", "created", "error", "proxied", "redirected"}

// String is the outcome's metric label value.
func (o Outcome) String() string {
	if o < 0 || int(o) >= numOutcomes {
		return "unknown"
	}
	return outcomeNames[o]
}

// Outcomes lists every outcome, for a metric that pre-creates its series.
func Outcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// Metrics is told what the manager does, for monitoring. Every method is
// called synchronously where the event happens, so it must be cheap and
// must not block; Request runs on every request, local hits included.
// A nil Options.Metrics costs nothing but an empty call.
type Metrics interface {
	// Request is called once per request through the filter that was not
	// relocated, when it ends.
	Request(o Outcome)
	// SessionsChanged is called with each change in the number of sessions
	// held in memory here (+1 created, loaded or moved in; -n evicted,
	// destroyed or moved out). The sum of the deltas is Len.
	SessionsChanged(delta int)
	// Evicted is called with the number of idle or least recently used
	// sessions written to the store and dropped from memory.
	Evicted(n int)
	// Destroyed is called for each session destroyed (invalidated or
	// expired), once per session, like the Destroyed event.
	Destroyed(why Reason)
	// MigratedIn is called for a session handed over here by its holder
	// for a request: how long the request waited for it (asking the farm,
	// the holder draining its requests, the hand-over confirmed) and the
	// size of the record that travelled.
	MigratedIn(d time.Duration, bytes int)
	// Restored is called for each session this node restored from a
	// backup after its holder died: for a request (which is also counted
	// as OutcomeRestored), or in the background, when the farm promotes an
	// orphaned backup. Each session is restored once across the farm: the
	// directory accepts one claim.
	Restored(byRequest bool)
}

// noMetrics is the default: the manager always has a Metrics, so that the
// hot path needs no nil check.
type noMetrics struct{}

func (noMetrics) Request(Outcome)               {}
func (noMetrics) SessionsChanged(int)           {}
func (noMetrics) Evicted(int)                   {}
func (noMetrics) Destroyed(Reason)              {}
func (noMetrics) MigratedIn(time.Duration, int) {}
func (noMetrics) Restored(bool)                 {}

// addCount changes the number of sessions in memory and tells the metrics.
func (m *Manager) addCount(delta int) {
	m.count.Add(int64(delta))
	m.metrics.SessionsChanged(delta)
}
