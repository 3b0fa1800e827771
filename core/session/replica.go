package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Replicas is what a manager on a farm node needs to keep backup copies of
// the sessions it holds on other members; core/cluster implements it. Both
// methods are called off the local-hit path only when a session changed, or
// when its placement did.
type Replicas interface {
	// Targets returns the members that should keep backups of the session
	// with the id while this node holds it, under the current placement:
	// never this node, never one twice. Nil means no backups.
	Targets(id string) []string
	// Send delivers items to one member and returns one status per item,
	// in order. An error means the member did not answer.
	Send(ctx context.Context, to string, items []ReplicaItem) ([]ReplicaStatus, error)
}

// Replication configures how a manager keeps backups.
type Replication struct {
	// Replicas, if set, turns replication on.
	Replicas Replicas
	// Async sends changes after the response instead of before it: faster,
	// but a crash of the holder can lose the last changes.
	Async bool
	// WholeSessions sends the whole session after every change instead of
	// the changed attributes.
	WholeSessions bool
	// Timeout bounds how long a synchronous change waits for its backups
	// (a backup that died is replaced once the farm notices). Default 15s.
	Timeout time.Duration
}

// ErrFenced is returned when a backup refused a change because another
// node took the session over: this node's copy is stale and is dropped.
var ErrFenced = errors.New("session: another node took the session over")

// ErrNotReplicated is wrapped by the error a request gets when its change
// could not be acknowledged by the backups in time (synchronous mode).
var ErrNotReplicated = errors.New("session: the change was not acknowledged by the backups")

// ReplicaKind says what a ReplicaItem asks of a backup.
type ReplicaKind uint8

// The kinds of replica items.
const (
	// ReplicaFull is the whole session from its holder; refused if the
	// backup records another holder.
	ReplicaFull ReplicaKind = iota + 1
	// ReplicaTakeover is the whole session from a node that has just taken
	// it over (moved or restored, as the directory recorded): it replaces
	// whatever the backup had.
	ReplicaTakeover
	// ReplicaDelta is the attributes changed since version Base.
	ReplicaDelta
	// ReplicaTouch renews the backup's expiry: the session was used.
	ReplicaTouch
	// ReplicaDrop removes the backup, if it is the sender's.
	ReplicaDrop
	// ReplicaFence removes the backup if it is Holder's and refuses Holder's
	// copies of the session from now on: Holder died and the sender took
	// the session over.
	ReplicaFence
)

// ReplicaItem is one message about one session to one backup.
type ReplicaItem struct {
	Kind ReplicaKind
	ID   string
	// Version is the session's version the item brings the backup to;
	// Base, for a delta, the version it applies to.
	Version, Base uint64
	// Data is the record (full, takeover) or the delta, encoded with the
	// configured codecs.
	Data []byte
	// Backups are all the members the holder keeps backups on, so that the
	// survivors agree on who restores the session if the holder dies.
	Backups []string
	// ExpiresIn is how long the session has left on the holder's clock.
	ExpiresIn time.Duration
	// Holder is the holder a fence is against.
	Holder string
}

// ReplicaStatus is a backup's answer to one item.
type ReplicaStatus uint8

// The answers.
const (
	ReplicaOK ReplicaStatus = iota + 1
	// ReplicaGap: the backup does not have the base of a delta; send the
	// whole session.
	ReplicaGap
	// ReplicaFenced: the backup records another holder for the session.
	ReplicaFenced
)

// A delta is the attributes a request changed, for a backup that has the
// session at version base:
//
//	"WSD" format(1)
//	id          uvarint length + bytes
//	base        uvarint
//	version     uvarint
//	lastAccess  varint unix nanoseconds (the holder's clock, as in records)
//	cleared     byte 0 or 1: every attribute was removed before the puts
//	puts        uvarint count, then count × (key, value)
//	removes     uvarint count, then count × key
const (
	deltaMagic   = "WSD"
	deltaFormat1 = 1
)

type delta struct {
	id            string
	base, version uint64
	lastAccess    time.Time
	cleared       bool
	puts          map[string][]byte
	removes       []string
}

func encodeDelta(d *delta) []byte {
	n := len(deltaMagic) + 1 + 5*binary.MaxVarintLen64 + len(d.id) + 1
	for k, v := range d.puts {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	for _, k := range d.removes {
		n += binary.MaxVarintLen64 + len(k)
	}
	b := make([]byte, 0, n)
	b = append(b, deltaMagic...)
	b = append(b, deltaFormat1)
	b = appendBytes(b, d.id)
	b = binary.AppendUvarint(b, d.base)
	b = binary.AppendUvarint(b, d.version)
	b = binary.AppendVarint(b, d.lastAccess.UnixNano())
	if d.cleared {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(d.puts)))
	for k, v := range d.puts {
		b = appendBytes(b, k)
		b = appendBytes(b, string(v))
	}
	b = binary.AppendUvarint(b, uint64(len(d.removes)))
	for _, k := range d.removes {
		b = appendBytes(b, k)
	}
	return b
}

// decodeDelta parses a delta as strictly as decodeRecord parses a record.
func decodeDelta(b []byte) (*delta, error) {
	if len(b) < len(deltaMagic)+1 || string(b[:len(deltaMagic)]) != deltaMagic {
		return nil, fmt.Errorf("%w: bad delta magic", ErrCorruptRecord)
	}
	if f := b[len(deltaMagic)]; f != deltaFormat1 {
		return nil, fmt.Errorf("%w: unknown delta format %d", ErrCorruptRecord, f)
	}
	d := decoder{b: b[len(deltaMagic)+1:]}
	out := &delta{}
	out.id = string(d.bytes("id"))
	out.base = d.uvarint("base version")
	out.version = d.uvarint("version")
	out.lastAccess = time.Unix(0, d.varint("last access"))
	if d.err == nil {
		if len(d.b) == 0 || d.b[0] > 1 {
			d.fail("bad cleared flag")
		} else {
			out.cleared = d.b[0] == 1
			d.b = d.b[1:]
		}
	}
	count := d.uvarint("put count")
	if d.err == nil && count > uint64(len(d.b))/2 {
		d.fail("put count %d exceeds the delta", count)
	}
	if d.err == nil {
		out.puts = make(map[string][]byte, count)
	}
	for i := uint64(0); i < count && d.err == nil; i++ {
		k := string(d.bytes("attribute name"))
		v := d.bytes("attribute value")
		if d.err != nil {
			break
		}
		if _, dup := out.puts[k]; dup {
			d.fail("attribute %q put twice", k)
			break
		}
		out.puts[k] = append([]byte(nil), v...)
	}
	count = d.uvarint("remove count")
	if d.err == nil && count > uint64(len(d.b)) {
		d.fail("remove count %d exceeds the delta", count)
	}
	for i := uint64(0); i < count && d.err == nil; i++ {
		k := string(d.bytes("removed attribute name"))
		if _, both := out.puts[k]; both && d.err == nil {
			d.fail("attribute %q both put and removed", k)
		}
		out.removes = append(out.removes, k)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err == nil && !ValidID(out.id) {
		d.fail("invalid session id")
	}
	if d.err == nil && out.version <= out.base {
		d.fail("version %d does not follow base %d", out.version, out.base)
	}
	if d.err != nil {
		return nil, d.err
	}
	return out, nil
}

// apply changes r by d; the caller checked that r is at d's base.
func (d *delta) apply(r *record) {
	if d.cleared {
		clear(r.attrs)
	}
	for _, k := range d.removes {
		delete(r.attrs, k)
	}
	for k, v := range d.puts {
		r.attrs[k] = v
	}
	r.version = d.version
	r.lastAccess = d.lastAccess
}
