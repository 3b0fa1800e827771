package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A record is a session serialised for a store or, later, a peer. The layout
// is small and versioned so that a record written by an older node still
// reads, and strict so that a corrupt or hostile record is rejected whole:
//
//	"WSR" format(1)
//	id         uvarint length + bytes
//	version    uvarint
//	created    varint unix nanoseconds (the holder's clock)
//	lastAccess varint unix nanoseconds (the holder's clock)
//	idle       uvarint nanoseconds
//	lifetime   uvarint nanoseconds
//	count      uvarint, then count × (key, value), each uvarint length + bytes
const (
	recordMagic   = "WSR"
	recordFormat1 = 1
)

// ErrCorruptRecord is wrapped by every error that decodeRecord returns.
var ErrCorruptRecord = errors.New("session: corrupt record")

// record is the decoded form of a session.
type record struct {
	id         string
	version    uint64
	created    time.Time
	lastAccess time.Time
	idle       time.Duration
	lifetime   time.Duration
	attrs      map[string][]byte
}

// expires is when the session stops being valid if nobody touches it.
func (r *record) expires() time.Time {
	return expiry(r.created, r.lastAccess, r.idle, r.lifetime)
}

func expiry(created, lastAccess time.Time, idle, lifetime time.Duration) time.Time {
	idleEnd := lastAccess.Add(idle)
	if end := created.Add(lifetime); end.Before(idleEnd) {
		return end
	}
	return idleEnd
}

func encodeRecord(r *record) []byte {
	n := len(recordMagic) + 1 + 6*binary.MaxVarintLen64 + len(r.id)
	for k, v := range r.attrs {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, recordMagic...)
	b = append(b, recordFormat1)
	b = appendBytes(b, r.id)
	b = binary.AppendUvarint(b, r.version)
	b = binary.AppendVarint(b, r.created.UnixNano())
	b = binary.AppendVarint(b, r.lastAccess.UnixNano())
	b = binary.AppendUvarint(b, uint64(r.idle))
	b = binary.AppendUvarint(b, uint64(r.lifetime))
	b = binary.AppendUvarint(b, uint64(len(r.attrs)))
	for k, v := range r.attrs {
		b = appendBytes(b, k)
		b = appendBytes(b, string(v))
	}
	return b
}

func appendBytes(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeRecord parses a record. It never panics and copies nothing it does not
// keep; attribute values are fresh slices, independent of b.
func decodeRecord(b []byte) (*record, error) {
	d := decoder{b: b}
	if len(b) < len(recordMagic)+1 || string(b[:len(recordMagic)]) != recordMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrCorruptRecord)
	}
	if f := b[len(recordMagic)]; f != recordFormat1 {
		return nil, fmt.Errorf("%w: unknown format %d", ErrCorruptRecord, f)
	}
	d.b = b[len(recordMagic)+1:]
	r := &record{}
	r.id = string(d.bytes("id"))
	r.version = d.uvarint("version")
	r.created = time.Unix(0, d.varint("created"))
	r.lastAccess = time.Unix(0, d.varint("last access"))
	r.idle = d.duration("idle timeout")
	r.lifetime = d.duration("lifetime")
	count := d.uvarint("attribute count")
	if d.err == nil && count > uint64(len(d.b))/2 {
		// Each attribute takes at least two bytes; a larger count is a lie
		// that would make us allocate for nothing.
		d.fail("attribute count %d exceeds the record", count)
	}
	if d.err == nil {
		r.attrs = make(map[string][]byte, count)
	}
	for i := uint64(0); i < count && d.err == nil; i++ {
		k := string(d.bytes("attribute name"))
		v := d.bytes("attribute value")
		if d.err != nil {
			break
		}
		if _, dup := r.attrs[k]; dup {
			d.fail("attribute %q appears twice", k)
			break
		}
		r.attrs[k] = append([]byte(nil), v...)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err == nil && !ValidID(r.id) {
		d.fail("invalid session id")
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorruptRecord, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	// An over-long encoding (0x81 0x00 for 1) is not one this package
	// writes: a record has one encoding, so tampering cannot hide in it.
	var buf [binary.MaxVarintLen64]byte
	if n <= 0 || n != binary.PutUvarint(buf[:], v) {
		d.fail("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	var buf [binary.MaxVarintLen64]byte
	if n <= 0 || n != binary.PutVarint(buf[:], v) {
		d.fail("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) duration(what string) time.Duration {
	v := d.uvarint(what)
	if v > 1<<62 {
		d.fail("%s out of range", what)
		return 0
	}
	return time.Duration(v)
}

func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("%s length %d exceeds the record", what, n)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
