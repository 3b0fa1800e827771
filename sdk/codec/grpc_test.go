package codec_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/internal/testimpl"
	"github.com/wadi-go/wadi/sdk/internal/wiretest"
)

func dial(t *testing.T, impl codec.Plugin) codec.Plugin {
	t.Helper()
	return wiretest.Dispense(t, &codec.GRPCPlugin{Impl: impl}, nil).(codec.Plugin)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGRPCRoundTrip(t *testing.T) {
	ctx := ctxT(t)
	impl := testimpl.NewCodec(nil)
	c := dial(t, impl)
	items := [][]byte{[]byte("hello, session"), {0, 0xff, 0xc3, 0x28}, bytes.Repeat([]byte("abc"), 10000)}
	enc, err := c.Encode(ctx, items)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	// What crossed the wire is byte for byte what the codec produced in
	// process (gzip is deterministic for a given level and input).
	want, err := impl.Encode(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) != len(items) {
		t.Fatalf("Encode returned %d items for %d", len(enc), len(items))
	}
	for i := range enc {
		if !bytes.Equal(enc[i], want[i]) {
			t.Errorf("item %d: wire %x, in process %x", i, enc[i], want[i])
		}
		dec, err := c.Decode(ctx, enc[i])
		if err != nil {
			t.Fatalf("Decode(%d): %v", i, err)
		}
		if !bytes.Equal(dec, items[i]) {
			t.Errorf("Decode(Encode(item %d)) differs", i)
		}
	}
}

// Empty and nil are one value on the wire: an empty batch comes back nil,
// every item (input or output) arrives as a non-nil slice.
func TestGRPCEmptyAndNil(t *testing.T) {
	ctx := ctxT(t)
	c := dial(t, testimpl.NewCodec(nil))
	for _, batch := range [][][]byte{nil, {}} {
		out, err := c.Encode(ctx, batch)
		if err != nil || out != nil {
			t.Errorf("Encode(%#v) = %#v, %v; want nil, nil", batch, out, err)
		}
	}
	enc, err := c.Encode(ctx, [][]byte{nil, {}})
	if err != nil || len(enc) != 2 {
		t.Fatalf("Encode(nil, empty) = %d items, %v", len(enc), err)
	}
	for i, e := range enc {
		dec, err := c.Decode(ctx, e)
		if err != nil || dec == nil || len(dec) != 0 {
			t.Errorf("Decode(Encode(empty %d)) = %#v, %v; want non-nil empty", i, dec, err)
		}
	}
}

func TestGRPCLargePayload(t *testing.T) {
	// A bound, not a measure: 16 MiB each way under the race detector on
	// a loaded machine took more than ctxT's 10 s.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dial(t, testimpl.NewCodec(nil))
	data := make([]byte, 16<<20)
	for i := range data {
		data[i] = byte(i*131) ^ byte(i>>11)
	}
	enc, err := c.Encode(ctx, [][]byte{data})
	if err != nil {
		t.Fatalf("Encode 16 MiB: %v", err)
	}
	dec, err := c.Decode(ctx, enc[0])
	if err != nil {
		t.Fatalf("Decode 16 MiB: %v", err)
	}
	if !bytes.Equal(dec, data) {
		t.Errorf("16 MiB round trip differs")
	}
}

// hanging is a codec whose Decode waits for its context and whose Encode
// panics.
type hanging struct{ *testimpl.Codec }

func (hanging) Decode(ctx context.Context, _ []byte) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (hanging) Encode(context.Context, [][]byte) ([][]byte, error) {
	panic("encode exploded")
}

// short returns a different number of items than it was given.
type short struct{ *testimpl.Codec }

func (short) Encode(_ context.Context, items [][]byte) ([][]byte, error) {
	return items[1:], nil
}

func TestGRPCErrors(t *testing.T) {
	ctx := ctxT(t)
	c := dial(t, testimpl.NewCodec(nil))
	_, err := c.Decode(ctx, []byte("not gzip"))
	if !errors.Is(err, codec.ErrCorrupt) || status.Code(err) != codes.DataLoss {
		t.Errorf("Decode(garbage) = %v, want ErrCorrupt", err)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "test-codec: decode: codec: corrupt input") {
		t.Errorf("Decode(garbage) message %q lost the plugin's words", err)
	}

	h := dial(t, hanging{testimpl.NewCodec(nil)})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := h.Decode(short, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Decode on a hanging codec = %v, want DeadlineExceeded", err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, ccancel)
	if _, err := h.Decode(cctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Decode cancelled = %v, want Canceled", err)
	}
	for range 2 {
		if _, err := h.Encode(ctx, [][]byte{{1}}); status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "encode exploded") {
			t.Errorf("Encode on a panicking codec = %v, want Internal naming the panic", err)
		}
	}
	if _, err := h.Info(ctx); err != nil {
		t.Errorf("Info after a panic: %v", err)
	}
}

// A codec answering with the wrong number of items fails the call rather
// than pairing outputs with the wrong sessions.
func TestGRPCBatchLength(t *testing.T) {
	ctx := ctxT(t)
	c := dial(t, short{testimpl.NewCodec(nil)})
	if out, err := c.Encode(ctx, [][]byte{{1}, {2}}); err == nil {
		t.Errorf("Encode with a short answer = %d items, no error", len(out))
	}
}

// sealed declares that it authenticates; failing's Settings fails.
type sealed struct{ *testimpl.Codec }

func (sealed) Settings(context.Context) (codec.Settings, error) {
	return codec.Settings{Authenticates: true}, nil
}

type failing struct{ *testimpl.Codec }

func (failing) Settings(context.Context) (codec.Settings, error) {
	return codec.Settings{}, errors.New("settings exploded")
}

// What a codec declares crosses the wire as it is in process; a codec that
// declares nothing has the zero settings on both sides.
func TestGRPCSettings(t *testing.T) {
	tests := []struct {
		name    string
		impl    codec.Plugin
		want    codec.Settings
		wantErr string
	}{
		{"declares nothing", testimpl.NewCodec(nil), codec.Settings{}, ""},
		{"authenticates", sealed{testimpl.NewCodec(nil)}, codec.Settings{Authenticates: true}, ""},
		{"fails", failing{testimpl.NewCodec(nil)}, codec.Settings{}, "settings exploded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ctxT(t)
			for where, c := range map[string]codec.Codec{"in process": tt.impl, "over the wire": dial(t, tt.impl)} {
				got, err := codec.SettingsOf(ctx, c)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Errorf("%s: SettingsOf = %+v, %v; want an error saying %q", where, got, err, tt.wantErr)
					}
					continue
				}
				if err != nil || got != tt.want {
					t.Errorf("%s: SettingsOf = %+v, %v; want %+v", where, got, err, tt.want)
				}
			}
		})
	}
}

// olderPlugin serves a codec as a plugin built before codec settings.
type olderPlugin struct {
	codec.GRPCPlugin
}

func (p *olderPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	codec.RegisterWithoutSettings(s, p.Impl)
	return nil
}

// A plugin from before codec settings declares nothing, and that is not an
// error: the host keeps running the codecs it ran.
func TestGRPCSettingsOfAnOlderPlugin(t *testing.T) {
	ctx := ctxT(t)
	c := wiretest.Dispense(t, &olderPlugin{codec.GRPCPlugin{Impl: sealed{testimpl.NewCodec(nil)}}}, nil).(codec.Plugin)
	st, err := codec.SettingsOf(ctx, c)
	if err != nil || st != (codec.Settings{}) {
		t.Fatalf("SettingsOf(older plugin) = %+v, %v; want the zero settings", st, err)
	}
	// Only the missing method differs.
	if _, err := c.Encode(ctx, [][]byte{[]byte("x")}); err != nil {
		t.Fatalf("Encode: %v", err)
	}
}
