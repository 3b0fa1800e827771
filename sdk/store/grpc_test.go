package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wadi-go/wadi/sdk/internal/testimpl"
	"github.com/wadi-go/wadi/sdk/internal/wiretest"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/store"
)

// dial returns the host's side of impl served over the protocol.
func dial(t *testing.T, impl store.Plugin) store.Plugin {
	t.Helper()
	return wiretest.Dispense(t, &store.GRPCPlugin{Impl: impl}, nil).(store.Plugin)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The conformance kit passes through the protocol: whatever a store
// promises in process it still promises out of process.
func TestGRPCConformance(t *testing.T) {
	plugintest.TestStore(t, func(t *testing.T) store.Store {
		return dial(t, testimpl.NewStore(nil))
	})
}

func TestGRPCRoundTrip(t *testing.T) {
	ctx := ctxT(t)
	s := dial(t, testimpl.NewStore(nil))

	exp := time.Date(2099, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	recs := []store.Record{
		{ID: "a", Expires: exp, Data: all},
		{ID: strings.Repeat("z", store.MaxIDLen), Expires: exp.Add(time.Nanosecond), Data: []byte{0xc3, 0x28}},
		{ID: "old", Expires: time.Unix(1, 0), Data: []byte("gone")},
	}
	if err := s.Save(ctx, recs); err != nil {
		t.Fatalf("Save: %v", err)
	}
	for _, want := range recs[:2] {
		got, err := s.Load(ctx, want.ID)
		if err != nil {
			t.Fatalf("Load(%q): %v", want.ID, err)
		}
		if got.ID != want.ID || !got.Expires.Equal(want.Expires) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("Load(%q) = %q %v %x, want %q %v %x", want.ID, got.ID, got.Expires, got.Data, want.ID, want.Expires, want.Data)
		}
	}

	ids, err := s.DeleteExpired(ctx, time.Now(), 10)
	if err != nil || len(ids) != 1 || ids[0] != "old" {
		t.Errorf("DeleteExpired = %q, %v; want [old]", ids, err)
	}
	if err := s.Delete(ctx, []string{"a", "absent"}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Load(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// Empty and nil are one value on the wire. What the host gets back: nil for
// no ids, a non-nil empty slice for empty Data, the zero time for a zero
// Expires.
func TestGRPCEmptyAndZero(t *testing.T) {
	ctx := ctxT(t)
	impl := testimpl.NewStore(nil)
	s := dial(t, impl)
	for _, recs := range [][]store.Record{nil, {}} {
		if err := s.Save(ctx, recs); err != nil {
			t.Errorf("Save(%#v): %v", recs, err)
		}
	}
	if err := s.Save(ctx, []store.Record{{ID: "nil", Expires: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, "nil")
	if err != nil || got.Data == nil || len(got.Data) != 0 {
		t.Errorf("Load(nil data) = %#v, %v; want non-nil empty Data", got.Data, err)
	}
	ids, err := s.DeleteExpired(ctx, time.Now(), 10)
	if err != nil || ids != nil {
		t.Errorf("DeleteExpired with nothing due = %#v, %v; want nil", ids, err)
	}
	// A zero Expires travels as the zero time, so the store sees "already
	// expired" rather than 1970.
	if err := s.Save(ctx, []store.Record{{ID: "zero", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	ids, err = s.DeleteExpired(ctx, time.Time{}, 10)
	if err != nil || len(ids) != 1 || ids[0] != "zero" {
		t.Errorf("DeleteExpired(zero time) = %q, %v; want [zero]", ids, err)
	}
	for _, limit := range []int{0, -1} {
		if ids, err := s.DeleteExpired(ctx, time.Now(), limit); err != nil || ids != nil {
			t.Errorf("DeleteExpired(limit %d) = %q, %v", limit, ids, err)
		}
	}
}

func TestGRPCLargePayload(t *testing.T) {
	ctx := ctxT(t)
	s := dial(t, testimpl.NewStore(nil))
	data := make([]byte, 16<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := s.Save(ctx, []store.Record{{ID: "big", Expires: time.Now().Add(time.Hour), Data: data}}); err != nil {
		t.Fatalf("Save 16 MiB: %v", err)
	}
	got, err := s.Load(ctx, "big")
	if err != nil {
		t.Fatalf("Load 16 MiB: %v", err)
	}
	if !bytes.Equal(got.Data, data) {
		t.Errorf("Load 16 MiB: data differs")
	}
}

// faulty is a store whose Load misbehaves as told.
type faulty struct {
	*testimpl.Store
	load func(ctx context.Context, id string) (store.Record, error)
}

func (f *faulty) Load(ctx context.Context, id string) (store.Record, error) {
	return f.load(ctx, id)
}

func TestGRPCErrorIdentity(t *testing.T) {
	corrupt := fmt.Errorf("record %q: checksum mismatch: %w", "c", store.ErrCorrupt)
	other := errors.New("disk on fire")
	s := dial(t, &faulty{Store: testimpl.NewStore(nil), load: func(ctx context.Context, id string) (store.Record, error) {
		switch id {
		case "corrupt":
			return store.Record{}, corrupt
		case "other":
			return store.Record{}, other
		case "hang":
			<-ctx.Done()
			return store.Record{}, fmt.Errorf("hung: %w", ctx.Err())
		case "canceled-inside":
			return store.Record{}, fmt.Errorf("backend gave up: %w", context.Canceled)
		}
		return store.Record{}, fmt.Errorf("load %q: %w", id, store.ErrNotFound)
	}})
	ctx := ctxT(t)

	_, err := s.Load(ctx, "absent")
	if !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCorrupt) {
		t.Errorf("absent: %v, want ErrNotFound only", err)
	}
	if want := `load "absent": store: record not found`; err == nil || err.Error() != want {
		t.Errorf("absent: message %q, want the plugin's %q", err, want)
	}

	_, err = s.Load(ctx, "corrupt")
	if !errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrNotFound) {
		t.Errorf("corrupt: %v, want ErrCorrupt only", err)
	}
	if err == nil || err.Error() != corrupt.Error() {
		t.Errorf("corrupt: message %q, want %q", err, corrupt)
	}
	if status.Code(err) != codes.DataLoss {
		t.Errorf("corrupt: code %v, want DataLoss", status.Code(err))
	}

	_, err = s.Load(ctx, "other")
	if err == nil || err.Error() != other.Error() || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCorrupt) {
		t.Errorf("other: %v, want %q with no sentinel", err, other)
	}

	_, err = s.Load(ctx, "canceled-inside")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled inside the plugin: %v, want context.Canceled", err)
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Load(short, "hang")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang with deadline: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("hang with deadline returned after %v", d)
	}

	cctx, ccancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, ccancel)
	_, err = s.Load(cctx, "hang")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("hang then cancel: %v, want Canceled", err)
	}

	// Already done: fails without a call, even for an empty batch.
	done, dcancel := context.WithCancel(ctx)
	dcancel()
	if err := s.Save(done, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Save(done ctx, nil) = %v, want Canceled", err)
	}
	if _, err := s.DeleteExpired(done, time.Now(), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteExpired(done ctx) = %v, want Canceled", err)
	}
}

// A panic in the implementation fails its call; the plugin keeps serving.
func TestGRPCPanic(t *testing.T) {
	var calls atomic.Int32
	s := dial(t, &faulty{Store: testimpl.NewStore(nil), load: func(ctx context.Context, id string) (store.Record, error) {
		calls.Add(1)
		var seen []string
		return store.Record{ID: seen[len(id)]}, nil // index out of range: a real bug, not a deliberate panic(…)
	}})
	ctx := ctxT(t)
	for range 3 {
		_, err := s.Load(ctx, "x")
		if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "panic") {
			t.Fatalf("Load on a panicking store = %v, want an Internal error naming the panic", err)
		}
	}
	if err := s.Save(ctx, []store.Record{{ID: "after", Expires: time.Now().Add(time.Hour)}}); err != nil {
		t.Errorf("Save after panics: %v", err)
	}
	if calls.Load() != 3 {
		t.Errorf("impl called %d times, want 3", calls.Load())
	}
}

// The server enforces the id bounds of the contract before the
// implementation sees them.
func TestGRPCInvalidArgument(t *testing.T) {
	ctx := ctxT(t)
	s := dial(t, testimpl.NewStore(nil))
	long := strings.Repeat("x", store.MaxIDLen+1)
	for name, call := range map[string]func() error{
		"Save empty id": func() error { return s.Save(ctx, []store.Record{{ID: ""}}) },
		"Save long id":  func() error { return s.Save(ctx, []store.Record{{ID: "ok"}, {ID: long}}) },
		"Load long id":  func() error { _, err := s.Load(ctx, long); return err },
		"Load empty id": func() error { _, err := s.Load(ctx, ""); return err },
		"Delete long":   func() error { return s.Delete(ctx, []string{long}) },
		"Save before year 1": func() error {
			return s.Save(ctx, []store.Record{{ID: "y", Expires: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}})
		},
	} {
		if err := call(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	if _, err := s.Load(ctx, "ok"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a batch refused whole still wrote: %v", err)
	}
}
