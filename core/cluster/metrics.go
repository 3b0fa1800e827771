package cluster

import (
	"time"

	"github.com/wadi-go/wadi/core/session"
)

// Metrics is told what the node does for requests and backups, for
// monitoring. Its methods are called synchronously where the event
// happens, so they must be cheap and must not block. Counts the node
// keeps anyway (members, backups, hand-overs) are read from the Node.
type Metrics interface {
	// Request is called for each request the Relocator answered by
	// sending it to the session's holder: session.OutcomeProxied or
	// session.OutcomeRedirected, or session.OutcomeError for a proxied
	// request the holder did not answer whole. The manager's filter
	// counts the others.
	Request(o session.Outcome)
	// Replicated is called for each replication message sent to a backup:
	// how long until it answered, its size on the wire (protobuf), and the
	// error if it failed.
	Replicated(d time.Duration, bytes int, err error)
}

type noMetrics struct{}

func (noMetrics) Request(session.Outcome)              {}
func (noMetrics) Replicated(time.Duration, int, error) {}

// Backups is how many backups this node keeps of other members' sessions.
func (n *Node) Backups() int {
	r, ok := n.replicas()
	if !ok {
		return 0
	}
	return r.BackupCount()
}
