// Package plugintest is the conformance kit for strategy plugins: behavioural
// tests that every implementation of a strategy kind must pass, run from the
// plugin author's own `go test`.
//
// A store plugin's test file needs only:
//
//	func TestConformance(t *testing.T) {
//		plugintest.TestStore(t, func(t *testing.T) store.Store {
//			s, err := mystore.Open(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// The kit imports only the standard library and the sdk, never host code.
package plugintest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wadi-go/wadi/sdk/store"
)

// Options adapts the store tests to what a backend can promise.
type Options struct {
	// NativeExpiry is set for stores whose backend removes expired records by
	// itself (Redis TTLs). DeleteExpired may then return fewer ids than were
	// due, down to none, and the kit only checks that it returns no id that
	// was not due, at most limit ids, and no id twice; expired records must
	// still be gone from Load.
	NativeExpiry bool
}

// TestStore runs the store conformance tests with the default Options.
//
// open is called once per subtest and must return a fresh, empty store; it
// may use t.TempDir or register its own cleanups (for example dropping a
// database), which run after the kit has closed the store. The kit closes
// every store it opens, so open must not close it itself.
func TestStore(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	TestStoreWith(t, open, Options{})
}

// TestStoreWith is TestStore with options for backends that cannot promise
// everything the default run checks.
func TestStoreWith(t *testing.T, open func(t *testing.T) store.Store, opts Options) {
	t.Helper()
	k := kit{open: open, opts: opts}
	tests := []struct {
		name string
		run  func(*testing.T)
	}{
		{"SaveLoad", k.testSaveLoad},
		{"ExpiryPrecision", k.testExpiryPrecision},
		{"Replace", k.testReplace},
		{"LoadAbsent", k.testLoadAbsent},
		{"LoadExpired", k.testLoadExpired},
		{"ExpiresWhileStored", k.testExpiresWhileStored},
		{"Delete", k.testDelete},
		{"EmptyBatches", k.testEmptyBatches},
		{"LargeBatch", k.testLargeBatch},
		{"DataShapes", k.testDataShapes},
		{"IDs", k.testIDs},
		{"CallerOwnsSlices", k.testCallerOwnsSlices},
		{"DeleteExpired", k.testDeleteExpired},
		{"DeleteExpiredLimit", k.testDeleteExpiredLimit},
		{"DeleteExpiredSkipsResaved", k.testDeleteExpiredSkipsResaved},
		{"DeleteExpiredAtomic", k.testDeleteExpiredAtomic},
		{"Cancelled", k.testCancelled},
		{"Concurrent", k.testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

type kit struct {
	open func(t *testing.T) store.Store
	opts Options
}

// store opens a fresh store for t and closes it when t ends.
func (k kit) store(t *testing.T) store.Store {
	t.Helper()
	s := k.open(t)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// live is an expiry far enough ahead that no test outlives it.
func live() time.Time { return time.Now().Add(time.Hour) }

// past is a cut-off for DeleteExpired tests: an hour ago, on a millisecond,
// so that records a millisecond either side of it are told apart by stores
// that keep only milliseconds.
func past() time.Time { return time.Now().Add(-time.Hour).Truncate(time.Millisecond) }

func save(t *testing.T, s store.Store, recs ...store.Record) {
	t.Helper()
	if err := s.Save(context.Background(), recs); err != nil {
		t.Fatalf("Save(%d records): %v", len(recs), err)
	}
}

func del(t *testing.T, s store.Store, ids ...string) {
	t.Helper()
	if err := s.Delete(context.Background(), ids); err != nil {
		t.Fatalf("Delete(%d ids): %v", len(ids), err)
	}
}

// sameExpiry allows a store to keep expiries to the millisecond.
func sameExpiry(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Millisecond && d < time.Millisecond
}

// mustLoad loads id and checks it equals want exactly (expiry to the ms).
func mustLoad(t *testing.T, s store.Store, want store.Record) {
	t.Helper()
	got, err := s.Load(context.Background(), want.ID)
	if err != nil {
		t.Fatalf("Load(%s): %v", short(want.ID), err)
	}
	if got.ID != want.ID {
		t.Errorf("Load(%s): ID = %q", short(want.ID), got.ID)
	}
	if !sameExpiry(got.Expires, want.Expires) {
		t.Errorf("Load(%s): Expires = %v, want %v (within 1ms)", short(want.ID), got.Expires, want.Expires)
	}
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("Load(%s): Data = %s, want %s", short(want.ID), describe(got.Data), describe(want.Data))
	}
}

func mustBeAbsent(t *testing.T, s store.Store, id string) {
	t.Helper()
	got, err := s.Load(context.Background(), id)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load(%s) = %s, %v; want ErrNotFound", short(id), describe(got.Data), err)
	}
}

func short(id string) string {
	if len(id) > 24 {
		return strconv.Quote(id[:20]) + "…"
	}
	return strconv.Quote(id)
}

func describe(b []byte) string {
	if len(b) > 32 {
		return fmt.Sprintf("%d bytes %q…", len(b), b[:32])
	}
	return fmt.Sprintf("%q", b)
}

func sorted(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func (k kit) testSaveLoad(t *testing.T) {
	s := k.store(t)
	a := store.Record{ID: "a", Expires: live(), Data: []byte("alpha")}
	b := store.Record{ID: "b", Expires: live().Add(time.Minute), Data: []byte("beta")}
	save(t, s, a, b)
	mustLoad(t, s, a)
	mustLoad(t, s, b)
}

func (k kit) testExpiryPrecision(t *testing.T) {
	s := k.store(t)
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	base := time.Now().Truncate(time.Second).Add(2 * time.Hour)
	tests := []struct {
		id      string
		expires time.Time
	}{
		{"whole-second", base},
		{"milliseconds", base.Add(123 * time.Millisecond)},
		{"nanoseconds", base.Add(123456789 * time.Nanosecond)},
		{"other-zone", base.Add(987 * time.Millisecond).In(zone)},
		{"next-year", base.AddDate(1, 0, 0).Add(1 * time.Millisecond)},
	}
	for _, tt := range tests {
		save(t, s, store.Record{ID: tt.id, Expires: tt.expires, Data: []byte(tt.id)})
	}
	for _, tt := range tests {
		mustLoad(t, s, store.Record{ID: tt.id, Expires: tt.expires, Data: []byte(tt.id)})
	}
}

func (k kit) testReplace(t *testing.T) {
	s := k.store(t)
	first := store.Record{ID: "r", Expires: live(), Data: []byte("first, and longer than the second")}
	second := store.Record{ID: "r", Expires: live().Add(time.Minute), Data: []byte("second")}
	earlier := store.Record{ID: "r", Expires: live().Add(-time.Minute), Data: []byte("third")}
	save(t, s, first)
	save(t, s, second)
	mustLoad(t, s, second)
	// An earlier expiry replaces too: the newest save wins, not the latest expiry.
	save(t, s, earlier)
	mustLoad(t, s, earlier)
}

func (k kit) testLoadAbsent(t *testing.T) {
	s := k.store(t)
	mustBeAbsent(t, s, "never-saved")
	save(t, s, store.Record{ID: "other", Expires: live(), Data: []byte("x")})
	mustBeAbsent(t, s, "never-saved")
	mustBeAbsent(t, s, "othe")
	mustBeAbsent(t, s, "other2")
}

func (k kit) testLoadExpired(t *testing.T) {
	s := k.store(t)
	now := time.Now()
	tests := []struct {
		id      string
		expires time.Time
	}{
		{"second-ago", now.Add(-time.Second)},
		{"day-ago", now.Add(-24 * time.Hour)},
		{"unix-epoch", time.Unix(0, 0)},
	}
	for _, tt := range tests {
		save(t, s, store.Record{ID: tt.id, Expires: tt.expires, Data: []byte("stale")})
	}
	for _, tt := range tests {
		mustBeAbsent(t, s, tt.id)
	}
	// A live record expired by a re-save is gone too.
	save(t, s, store.Record{ID: "was-live", Expires: live(), Data: []byte("x")})
	save(t, s, store.Record{ID: "was-live", Expires: now.Add(-time.Second), Data: []byte("x")})
	mustBeAbsent(t, s, "was-live")
}

func (k kit) testExpiresWhileStored(t *testing.T) {
	s := k.store(t)
	rec := store.Record{ID: "short-lived", Expires: time.Now().Add(500 * time.Millisecond), Data: []byte("x")}
	save(t, s, rec)
	got, err := s.Load(context.Background(), rec.ID)
	switch {
	case err == nil:
		if !bytes.Equal(got.Data, rec.Data) {
			t.Errorf("Load(%s).Data = %q, want %q", rec.ID, got.Data, rec.Data)
		}
	case errors.Is(err, store.ErrNotFound) && !time.Now().Before(rec.Expires):
		// Save and Load took longer than the record lived: not the store's fault.
		t.Logf("Load(%s) came after the record expired; only its expiry is checked", rec.ID)
	default:
		t.Fatalf("Load(%s) before its expiry: %v", rec.ID, err)
	}
	time.Sleep(time.Until(rec.Expires) + 50*time.Millisecond)
	mustBeAbsent(t, s, rec.ID)
}

func (k kit) testDelete(t *testing.T) {
	s := k.store(t)
	a := store.Record{ID: "a", Expires: live(), Data: []byte("a")}
	b := store.Record{ID: "b", Expires: live(), Data: []byte("b")}
	c := store.Record{ID: "c", Expires: live(), Data: []byte("c")}
	save(t, s, a, b, c)

	del(t, s, "a")
	mustBeAbsent(t, s, "a")
	mustLoad(t, s, b)
	mustLoad(t, s, c)

	// Absent ids, alone or mixed with present ones, are not an error.
	del(t, s, "a")
	del(t, s, "absent")
	del(t, s, "absent", "b", "also-absent", "b")
	mustBeAbsent(t, s, "b")
	mustLoad(t, s, c)

	// A deleted id can be saved again.
	save(t, s, a)
	mustLoad(t, s, a)
}

func (k kit) testEmptyBatches(t *testing.T) {
	s := k.store(t)
	a := store.Record{ID: "a", Expires: live(), Data: []byte("a")}
	save(t, s, a)
	ctx := context.Background()
	for _, recs := range [][]store.Record{nil, {}} {
		if err := s.Save(ctx, recs); err != nil {
			t.Errorf("Save(%#v): %v", recs, err)
		}
	}
	for _, ids := range [][]string{nil, {}} {
		if err := s.Delete(ctx, ids); err != nil {
			t.Errorf("Delete(%#v): %v", ids, err)
		}
	}
	mustLoad(t, s, a)
}

func (k kit) testLargeBatch(t *testing.T) {
	s := k.store(t)
	const n = 500
	recs := make([]store.Record, n)
	exp := live()
	for i := range recs {
		recs[i] = store.Record{
			ID:      fmt.Sprintf("batch-%03d", i),
			Expires: exp.Add(time.Duration(i) * time.Millisecond),
			Data:    []byte(strings.Repeat(strconv.Itoa(i), 1+i%50)),
		}
	}
	save(t, s, recs...)
	for _, r := range recs {
		mustLoad(t, s, r)
	}

	// Delete every even record in one batch, mixed with absent ids.
	var ids []string
	for i := 0; i < n; i += 2 {
		ids = append(ids, recs[i].ID, fmt.Sprintf("absent-%d", i))
	}
	del(t, s, ids...)
	for i, r := range recs {
		if i%2 == 0 {
			mustBeAbsent(t, s, r.ID)
		} else {
			mustLoad(t, s, r)
		}
	}
}

func (k kit) testDataShapes(t *testing.T) {
	s := k.store(t)
	rng := rand.New(rand.NewPCG(1, 2))
	large := make([]byte, 1<<20)
	for i := range large {
		large[i] = byte(rng.Uint32())
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		id   string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"one-nul", []byte{0}},
		{"nuls", []byte{0, 0, 0, 'a', 0, 0xff, 0}},
		{"every-byte", all},
		{"invalid-utf8", []byte{0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28}},
		{"1MiB", large},
	}
	for _, tt := range tests {
		save(t, s, store.Record{ID: tt.id, Expires: live(), Data: tt.data})
	}
	exp := live()
	for _, tt := range tests {
		got, err := s.Load(context.Background(), tt.id)
		if err != nil {
			t.Errorf("Load(%s): %v", tt.id, err)
			continue
		}
		if !bytes.Equal(got.Data, tt.data) {
			t.Errorf("Load(%s): Data = %s, want %s", tt.id, describe(got.Data), describe(tt.data))
		}
		if got.Expires.After(exp) {
			t.Errorf("Load(%s): Expires = %v, later than saved", tt.id, got.Expires)
		}
	}
}

// cookieAlphabet is the id alphabet a cookie value can carry unquoted that
// the host uses for session ids (route suffixes add '.').
const cookieAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."

func (k kit) testIDs(t *testing.T) {
	s := k.store(t)
	rng := rand.New(rand.NewPCG(3, 4))
	randomID := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = cookieAlphabet[rng.IntN(len(cookieAlphabet))]
		}
		return string(b)
	}
	ids := []string{
		"a",
		"-", "_", ".", "..", "0",
		strings.Repeat("x", store.MaxIDLen-1),
		strings.Repeat("x", store.MaxIDLen), // the one above is its prefix
		strings.Repeat("x", store.MaxIDLen-1) + "y",
		strings.Repeat("-", store.MaxIDLen),
		strings.Repeat(".", store.MaxIDLen),
		cookieAlphabet + strings.Repeat("9", store.MaxIDLen-len(cookieAlphabet)),
		"abc.node-1", "abc.node-2", "abc",
	}
	for range 20 {
		ids = append(ids, randomID(store.MaxIDLen))
	}
	recs := make([]store.Record, len(ids))
	for i, id := range ids {
		recs[i] = store.Record{ID: id, Expires: live(), Data: []byte("data of " + id)}
	}
	save(t, s, recs...)
	for _, r := range recs {
		mustLoad(t, s, r)
	}

	// Ids come back intact from DeleteExpired too.
	cut := past()
	for i := range recs {
		recs[i].Expires = cut.Add(-time.Duration(i) * time.Millisecond)
	}
	save(t, s, recs...)
	got := k.drainExpired(t, s, cut, len(ids)+1)
	if !k.opts.NativeExpiry {
		if want := sorted(ids); !slices.Equal(sorted(got), want) {
			t.Errorf("DeleteExpired returned %d ids %q, want the %d saved", len(got), sorted(got), len(want))
		}
	}
	for _, id := range ids {
		mustBeAbsent(t, s, id)
	}
}

func (k kit) testCallerOwnsSlices(t *testing.T) {
	s := k.store(t)
	orig := []byte("original data")
	data := slices.Clone(orig)
	recs := []store.Record{{ID: "m", Expires: live(), Data: data}}
	save(t, s, recs...)

	// The caller reuses its buffers after Save returns.
	for i := range data {
		data[i] = 'X'
	}
	recs[0].ID = "changed"
	mustLoad(t, s, store.Record{ID: "m", Expires: recs[0].Expires, Data: orig})

	// The caller changes what Load returned.
	got, err := s.Load(context.Background(), "m")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for i := range got.Data {
		got.Data[i] = 'Y'
	}
	_ = append(got.Data[:0], "spilled over"...)
	mustLoad(t, s, store.Record{ID: "m", Expires: recs[0].Expires, Data: orig})
}

// drainExpired calls DeleteExpired until it returns fewer than limit ids and
// returns them all. It fails t on an error, an id returned twice, or a call
// returning more than limit ids.
func (k kit) drainExpired(t *testing.T, s store.Store, before time.Time, limit int) []string {
	t.Helper()
	var all []string
	seen := map[string]bool{}
	for call := 0; ; call++ {
		ids, err := s.DeleteExpired(context.Background(), before, limit)
		if err != nil {
			t.Fatalf("DeleteExpired(limit %d), call %d: %v", limit, call, err)
		}
		if len(ids) > limit {
			t.Fatalf("DeleteExpired(limit %d) returned %d ids", limit, len(ids))
		}
		for _, id := range ids {
			if seen[id] {
				t.Errorf("DeleteExpired returned %s twice", short(id))
			}
			seen[id] = true
		}
		all = append(all, ids...)
		if len(ids) < limit {
			return all
		}
		if call > 10000 {
			t.Fatalf("DeleteExpired(limit %d) still returning ids after %d calls", limit, call)
		}
	}
}

// checkExpired checks the ids DeleteExpired returned against those that were
// due: exactly them, or, with native expiry, some of them.
func (k kit) checkExpired(t *testing.T, got, due []string) {
	t.Helper()
	if k.opts.NativeExpiry {
		for _, id := range got {
			if !slices.Contains(due, id) {
				t.Errorf("DeleteExpired returned %s, which was not due; due: %q", short(id), due)
			}
		}
		return
	}
	if !slices.Equal(sorted(got), sorted(due)) {
		t.Errorf("DeleteExpired returned %q, want %q", sorted(got), sorted(due))
	}
}

func (k kit) testDeleteExpired(t *testing.T) {
	s := k.store(t)
	cut := past()
	recs := []struct {
		rec store.Record
		due bool
	}{
		{store.Record{ID: "2h-before", Expires: cut.Add(-2 * time.Hour)}, true},
		{store.Record{ID: "1ms-before", Expires: cut.Add(-time.Millisecond)}, true},
		{store.Record{ID: "at", Expires: cut}, true},
		{store.Record{ID: "1ms-after", Expires: cut.Add(time.Millisecond)}, false},
		{store.Record{ID: "30m-after", Expires: cut.Add(30 * time.Minute)}, false},
		{store.Record{ID: "live", Expires: live()}, false},
	}
	var due []string
	for i := range recs {
		recs[i].rec.Data = []byte("data of " + recs[i].rec.ID)
		save(t, s, recs[i].rec)
		if recs[i].due {
			due = append(due, recs[i].rec.ID)
		}
	}

	k.checkExpired(t, k.drainExpired(t, s, cut, 100), due)
	// Nothing more is due at the same cut-off.
	k.checkExpired(t, k.drainExpired(t, s, cut, 100), nil)
	// The records just after the cut-off were left alone: a later cut-off
	// finds them.
	k.checkExpired(t, k.drainExpired(t, s, cut.Add(30*time.Minute), 100), []string{"1ms-after", "30m-after"})

	for _, r := range recs {
		if r.rec.ID == "live" {
			mustLoad(t, s, r.rec)
		} else {
			mustBeAbsent(t, s, r.rec.ID)
		}
	}
	// An empty store has nothing to delete.
	del(t, s, "live")
	k.checkExpired(t, k.drainExpired(t, s, time.Now().Add(24*time.Hour), 100), nil)
}

func (k kit) testDeleteExpiredLimit(t *testing.T) {
	s := k.store(t)
	cut := past()
	const n = 10
	var due []string
	for i := range n {
		id := fmt.Sprintf("exp-%02d", i)
		save(t, s, store.Record{ID: id, Expires: cut.Add(-time.Duration(i) * time.Millisecond), Data: []byte(id)})
		due = append(due, id)
	}
	keep := store.Record{ID: "keep", Expires: live(), Data: []byte("keep")}
	save(t, s, keep)

	var all []string
	for call, want := range []int{3, 3, 3, 1, 0} {
		ids, err := s.DeleteExpired(context.Background(), cut, 3)
		if err != nil {
			t.Fatalf("DeleteExpired call %d: %v", call, err)
		}
		if len(ids) > 3 {
			t.Fatalf("DeleteExpired(limit 3) call %d returned %d ids: %q", call, len(ids), ids)
		}
		if !k.opts.NativeExpiry && len(ids) != want {
			t.Errorf("DeleteExpired(limit 3) call %d returned %d ids %q, want %d", call, len(ids), ids, want)
		}
		for _, id := range ids {
			if slices.Contains(all, id) {
				t.Errorf("DeleteExpired returned %s twice", short(id))
			}
		}
		all = append(all, ids...)
	}
	k.checkExpired(t, all, due)
	mustLoad(t, s, keep)
}

func (k kit) testDeleteExpiredSkipsResaved(t *testing.T) {
	s := k.store(t)
	cut := past()
	// Expired, then saved again with a later expiry: no longer due.
	extended := store.Record{ID: "extended", Expires: live(), Data: []byte("new")}
	save(t, s, store.Record{ID: "extended", Expires: cut.Add(-time.Minute), Data: []byte("old")})
	save(t, s, extended)
	// Expired, then saved again still expired: due once.
	save(t, s, store.Record{ID: "moved", Expires: cut.Add(-time.Minute), Data: []byte("old")})
	save(t, s, store.Record{ID: "moved", Expires: cut.Add(-2 * time.Minute), Data: []byte("new")})
	// Live, then saved again expired: due.
	save(t, s, store.Record{ID: "shortened", Expires: live(), Data: []byte("old")})
	save(t, s, store.Record{ID: "shortened", Expires: cut.Add(-time.Minute), Data: []byte("new")})
	// Expired, deleted, saved again live: not due.
	reborn := store.Record{ID: "reborn", Expires: live(), Data: []byte("new")}
	save(t, s, store.Record{ID: "reborn", Expires: cut.Add(-time.Minute), Data: []byte("old")})
	del(t, s, "reborn")
	save(t, s, reborn)

	k.checkExpired(t, k.drainExpired(t, s, cut, 100), []string{"moved", "shortened"})
	mustLoad(t, s, extended)
	mustLoad(t, s, reborn)
	mustBeAbsent(t, s, "moved")
	mustBeAbsent(t, s, "shortened")
}

// testDeleteExpiredAtomic re-saves expired records with a later expiry while
// DeleteExpired runs: whichever comes first, the re-saved record survives,
// which fails for a store that checks the expiry and removes the record in
// separate steps.
func (k kit) testDeleteExpiredAtomic(t *testing.T) {
	s := k.store(t)
	cut := past()
	const n = 300
	recs := make([]store.Record, n)
	for i := range recs {
		recs[i] = store.Record{ID: fmt.Sprintf("race-%03d", i), Expires: cut.Add(-time.Second), Data: []byte("old")}
	}
	save(t, s, recs...)

	ctx := context.Background()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range recs {
			r := recs[i]
			r.Expires, r.Data = live(), []byte("new")
			if err := s.Save(ctx, []store.Record{r}); err != nil {
				t.Errorf("Save(%s): %v", r.ID, err)
				return
			}
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := s.DeleteExpired(ctx, cut, 7); err != nil {
				t.Errorf("DeleteExpired: %v", err)
				return
			}
		}
	})
	wg.Wait()
	for _, r := range recs {
		r.Expires, r.Data = live(), []byte("new")
		got, err := s.Load(ctx, r.ID)
		if err != nil {
			t.Errorf("Load(%s) after re-save raced DeleteExpired: %v", r.ID, err)
			continue
		}
		if string(got.Data) != "new" {
			t.Errorf("Load(%s).Data = %q, want %q", r.ID, got.Data, "new")
		}
	}
}

func (k kit) testCancelled(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	tests := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"Canceled", cancelled, context.Canceled},
		{"DeadlineExceeded", expired, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := k.store(t)
			rec := store.Record{ID: "present", Expires: live(), Data: []byte("x")}
			save(t, s, rec)
			cut := past()
			save(t, s, store.Record{ID: "due", Expires: cut.Add(-time.Minute), Data: []byte("x")})

			check := func(call string, err error) {
				t.Helper()
				if err == nil {
					t.Errorf("%s with a done context returned no error", call)
				} else if !errors.Is(err, tt.want) {
					t.Errorf("%s with a done context: %v; want an error wrapping %v", call, err, tt.want)
				}
			}
			check("Save", s.Save(tt.ctx, []store.Record{{ID: "new", Expires: live(), Data: []byte("y")}}))
			_, err := s.Load(tt.ctx, "present")
			check("Load(present)", err)
			_, err = s.Load(tt.ctx, "absent")
			check("Load(absent)", err)
			check("Delete", s.Delete(tt.ctx, []string{"present"}))
			_, err = s.DeleteExpired(tt.ctx, cut, 10)
			check("DeleteExpired", err)

			// The store still works with a live context.
			mustLoad(t, s, rec)
		})
	}
}

// testConcurrent runs goroutines that save, load and delete ids they share and
// ids of their own. A shared id must always load as some whole record that was
// saved under it (its data and expiry from the same save); an own id must load
// exactly as its goroutine last left it.
func (k kit) testConcurrent(t *testing.T) {
	s := k.store(t)
	const (
		workers = 8
		ops     = 300
		shared  = 12
		own     = 6
	)
	ctx := context.Background()
	base := live().Truncate(time.Millisecond)
	// record makes a record whose data names its id and its expiry, so a load
	// can tell whether the two come from one save.
	record := func(id string, w, seq int) store.Record {
		ms := w*ops + seq
		return store.Record{
			ID:      id,
			Expires: base.Add(time.Duration(ms) * time.Millisecond),
			Data:    []byte(fmt.Sprintf("%s|%d|%s", id, ms, strings.Repeat("z", seq%64))),
		}
	}
	checkShared := func(id string, got store.Record, err error) {
		if errors.Is(err, store.ErrNotFound) {
			return
		}
		if err != nil {
			t.Errorf("Load(%s): %v", id, err)
			return
		}
		parts := strings.SplitN(string(got.Data), "|", 3)
		if len(parts) != 3 || parts[0] != id {
			t.Errorf("Load(%s) returned data %q saved under another id", id, got.Data)
			return
		}
		ms, _ := strconv.Atoi(parts[1])
		if want := base.Add(time.Duration(ms) * time.Millisecond); !sameExpiry(got.Expires, want) {
			t.Errorf("Load(%s): Expires %v does not match data %q (want %v): torn record", id, got.Expires, got.Data, want)
		}
	}
	sharedID := func(i int) string { return fmt.Sprintf("shared-%02d", i) }
	ownID := func(w, i int) string { return fmt.Sprintf("own-%d-%d", w, i) }

	final := make([]map[string]store.Record, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			mine := map[string]store.Record{}
			defer func() { final[w] = mine }()
			for seq := range ops {
				switch op := rng.IntN(10); {
				case op < 3: // save a batch of shared and own ids
					ro := record(ownID(w, rng.IntN(own)), w, seq)
					batch := []store.Record{record(sharedID(rng.IntN(shared)), w, seq), ro}
					if err := s.Save(ctx, batch); err != nil {
						t.Errorf("Save: %v", err)
						return
					}
					mine[ro.ID] = ro
				case op < 6: // load a shared id
					id := sharedID(rng.IntN(shared))
					got, err := s.Load(ctx, id)
					checkShared(id, got, err)
				case op < 8: // load an own id
					id := ownID(w, rng.IntN(own))
					got, err := s.Load(ctx, id)
					want, ok := mine[id]
					switch {
					case !ok && !errors.Is(err, store.ErrNotFound):
						t.Errorf("Load(%s) of a deleted id = %q, %v; want ErrNotFound", id, got.Data, err)
					case ok && err != nil:
						t.Errorf("Load(%s): %v", id, err)
					case ok && !bytes.Equal(got.Data, want.Data):
						t.Errorf("Load(%s).Data = %q, want %q", id, got.Data, want.Data)
					}
				case op < 9: // delete a shared and an own id
					ido := ownID(w, rng.IntN(own))
					if err := s.Delete(ctx, []string{sharedID(rng.IntN(shared)), ido}); err != nil {
						t.Errorf("Delete: %v", err)
						return
					}
					delete(mine, ido)
				default: // nothing is due: DeleteExpired must not touch live records
					ids, err := s.DeleteExpired(ctx, base.Add(-time.Minute), 5)
					if err != nil {
						t.Errorf("DeleteExpired: %v", err)
						return
					}
					if len(ids) > 0 {
						t.Errorf("DeleteExpired removed live records %q", ids)
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	for w := range workers {
		for i := range own {
			id := ownID(w, i)
			if want, ok := final[w][id]; ok {
				mustLoad(t, s, want)
			} else {
				mustBeAbsent(t, s, id)
			}
		}
	}
	for i := range shared {
		id := sharedID(i)
		got, err := s.Load(ctx, id)
		checkShared(id, got, err)
	}
	// The store is still coherent: a final round of writes reads back exactly.
	var last []store.Record
	for i := range shared {
		last = append(last, record(sharedID(i), workers, i))
	}
	save(t, s, last...)
	for _, r := range last {
		mustLoad(t, s, r)
	}
}
