package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wadi-go/wadi/sdk/codec"
)

// NamedCodec is a codec under the name the configuration gives it. The name
// is written into every record the codec encodes, so that the record can be
// read back after the configuration changes, as long as a codec of that name
// is still configured or retired (Options.Retired).
//
// A codec that declares it authenticates (codec.Settings) guards every
// record: with it configured, a record whose header does not name it is
// refused, since whoever can write the store or reach the peer port could
// have planted it.
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

// authenticatingCodecs asks each codec once what it declares, and returns
// the names of those that authenticate.
func authenticatingCodecs(codecs []NamedCodec, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var names []string
	for _, c := range codecs {
		st, err := codec.SettingsOf(ctx, c.Codec)
		if err != nil {
			return nil, fmt.Errorf("session: codec %q: %w", c.Name, err)
		}
		if st.Authenticates {
			names = append(names, c.Name)
		}
	}
	return names, nil
}

// decodeStored reverses encodeStored. A record that cannot be read — one
// that skips an authenticating codec, a codec neither configured nor
// retired, a wrong key, tampering — is an error wrapping ErrCorruptRecord; a
// codec that is unavailable is another error, to retry.
func (m *Manager) decodeStored(ctx context.Context, data []byte) ([]byte, error) {
	names, rest, err := parseChain(data)
	if err != nil {
		return nil, err
	}
	// Checked before any codec runs: the header is not authenticated, so a
	// record that leaves out the authenticating layer could say anything.
	if !m.opts.AcceptUnauthenticated {
		for _, a := range m.authenticating {
			if !slices.Contains(names, a) {
				return nil, fmt.Errorf("%w: not encoded with codec %q, which authenticates every record (codecs %q): refused as possibly planted", ErrCorruptRecord, a, names)
			}
		}
	}
	for i := len(names) - 1; i >= 0; i-- {
		c := m.decoder(names[i])
		if c == nil {
			return nil, fmt.Errorf("%w: encoded with codec %q, which is neither configured nor retired", ErrCorruptRecord, names[i])
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

// decoder returns the codec that decodes layers named name: the configured
// one, else the retired one, else nil.
func (m *Manager) decoder(name string) codec.Codec {
	for _, c := range m.opts.Codecs {
		if c.Name == name {
			return c.Codec
		}
	}
	return m.opts.Retired[name]
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
