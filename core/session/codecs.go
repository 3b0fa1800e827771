package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/wadi-go/wadi/sdk/codec"
)

// NamedCodec is a codec under the name the configuration gives it. The name
// is written into every record the codec encodes, so that the record can be
// read back after the configuration changes, as long as a codec of that name
// is still configured.
type NamedCodec struct {
	Name  string
	Codec codec.Codec
}

// A record encoded by codecs starts with a header naming them in the order
// they were applied:
//
//	"WCH" format(1) count(uvarint) count × name(uvarint length + bytes)
//
// A record without codecs starts with the record magic "WSR" instead, so a
// record written before codecs were configured still reads.
const (
	chainMagic   = "WCH"
	chainFormat1 = 1
	maxCodecName = 64
	maxChainLen  = 16
)

// encodeStored applies the configured codecs, in order, to serialised
// records, and prefixes each result with the chain header.
func (m *Manager) encodeStored(ctx context.Context, items [][]byte) ([][]byte, error) {
	if len(m.opts.Codecs) == 0 {
		return items, nil
	}
	for _, c := range m.opts.Codecs {
		out, err := c.Codec.Encode(ctx, items)
		if err != nil {
			return nil, fmt.Errorf("session: codec %q: %w", c.Name, err)
		}
		if len(out) != len(items) {
			return nil, fmt.Errorf("session: codec %q returned %d items for %d", c.Name, len(out), len(items))
		}
		items = out
	}
	header := m.chainHeader()
	for i, it := range items {
		b := make([]byte, 0, len(header)+len(it))
		items[i] = append(append(b, header...), it...)
	}
	return items, nil
}

func (m *Manager) chainHeader() []byte {
	b := append([]byte(chainMagic), chainFormat1)
	b = binary.AppendUvarint(b, uint64(len(m.opts.Codecs)))
	for _, c := range m.opts.Codecs {
		b = appendBytes(b, c.Name)
	}
	return b
}

// decodeStored reverses encodeStored. A record that cannot be read — a codec
// that is no longer configured, a wrong key, tampering — is an error wrapping
// ErrCorruptRecord; a codec that is unavailable is another error, to retry.
func (m *Manager) decodeStored(ctx context.Context, data []byte) ([]byte, error) {
	names, rest, err := parseChain(data)
	if err != nil {
		return nil, err
	}
	for i := len(names) - 1; i >= 0; i-- {
		c := m.codec(names[i])
		if c == nil {
			return nil, fmt.Errorf("%w: encoded with codec %q, which is not configured", ErrCorruptRecord, names[i])
		}
		rest, err = c.Decode(ctx, rest)
		if errors.Is(err, codec.ErrCorrupt) {
			return nil, fmt.Errorf("%w: codec %q: %w", ErrCorruptRecord, names[i], err)
		}
		if err != nil {
			return nil, fmt.Errorf("session: codec %q: %w", names[i], err)
		}
	}
	return rest, nil
}

func (m *Manager) codec(name string) codec.Codec {
	for _, c := range m.opts.Codecs {
		if c.Name == name {
			return c.Codec
		}
	}
	return nil
}

// parseChain splits a stored record into the names of the codecs that
// encoded it, in the order they were applied, and the encoded bytes. A plain
// record has no names.
func parseChain(data []byte) ([]string, []byte, error) {
	if !strings.HasPrefix(string(data[:min(len(data), len(chainMagic))]), chainMagic) {
		return nil, data, nil
	}
	d := decoder{b: data[len(chainMagic):]}
	if len(d.b) == 0 || d.b[0] != chainFormat1 {
		return nil, nil, fmt.Errorf("%w: unknown codec header format", ErrCorruptRecord)
	}
	d.b = d.b[1:]
	n := d.uvarint("codec count")
	if d.err == nil && (n == 0 || n > maxChainLen) {
		d.fail("codec count %d out of range", n)
	}
	var names []string
	for i := uint64(0); i < n && d.err == nil; i++ {
		name := d.bytes("codec name")
		if d.err == nil && (len(name) == 0 || len(name) > maxCodecName) {
			d.fail("codec name of %d bytes", len(name))
		}
		names = append(names, string(name))
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	return names, d.b, nil
}
