package pgstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wadi-go/wadi/internal/testservers"
	"github.com/wadi-go/wadi/plugins/builtin/internal/storebench"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/store"
)

func TestMain(m *testing.M) { os.Exit(testservers.Run(m)) }

// blockJSON returns a block as the host sends it (every attribute), with the
// given attributes changed.
func blockJSON(t testing.TB, set map[string]any) []byte {
	t.Helper()
	obj := map[string]any{"dsn": nil, "table": DefaultTable, "max_conns": DefaultMaxConns, "timeout": "5s"}
	for k, v := range set {
		if _, ok := obj[k]; !ok {
			t.Fatalf("blockJSON: no attribute %q", k)
		}
		obj[k] = v
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openStore returns a store on a fresh database of the shared cluster.
func openStore(t testing.TB, set map[string]any) *Store {
	t.Helper()
	all := map[string]any{"dsn": testservers.StartPostgres(t)}
	for k, v := range set {
		all[k] = v
	}
	s, err := FromConfig(blockJSON(t, all))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// connect opens a connection behind the store's back.
func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestConformance(t *testing.T) {
	plugintest.TestStore(t, func(t *testing.T) store.Store { return openStore(t, nil) })
}

func TestTableLayout(t *testing.T) {
	ctx := context.Background()
	dsn := testservers.StartPostgres(t)
	s, err := FromConfig(blockJSON(t, map[string]any{"dsn": dsn, "table": "Custom_Sessions"}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := connect(t, dsn)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'Custom_Sessions'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("table exists before the first call: %d, %v", n, err)
	}

	exp := time.Now().Add(time.Hour + 123456789*time.Nanosecond)
	id := "id\x00with NUL and \xff"
	if err := s.Save(ctx, []store.Record{{ID: id, Expires: exp, Data: []byte("data")}, {ID: "nil", Expires: exp}}); err != nil {
		t.Fatal(err)
	}
	var gotExp int64
	var data []byte
	if err := c.QueryRow(ctx, `SELECT expires, data FROM "Custom_Sessions" WHERE id = $1`, []byte(id)).Scan(&gotExp, &data); err != nil {
		t.Fatal(err)
	}
	if gotExp != exp.UnixNano() || string(data) != "data" {
		t.Errorf("row = %d %q, want %d %q", gotExp, data, exp.UnixNano(), "data")
	}
	got, err := s.Load(ctx, id)
	if err != nil || !got.Expires.Equal(exp) {
		t.Errorf("Load = %v, %v; want the expiry to the nanosecond, %v", got.Expires, err, exp)
	}
	if got, err := s.Load(ctx, "nil"); err != nil || got.Data == nil || len(got.Data) != 0 {
		t.Errorf("Load of nil data = %#v, %v; want empty", got.Data, err)
	}

	var version int
	if err := c.QueryRow(ctx, `SELECT version FROM wadi_schema_versions WHERE table_name = 'Custom_Sessions'`).Scan(&version); err != nil || version != len(migrations) {
		t.Errorf("schema version %d, %v; want %d", version, err, len(migrations))
	}
	var indexDef string
	if err := c.QueryRow(ctx, `SELECT indexdef FROM pg_indexes WHERE tablename = 'Custom_Sessions' AND indexname = 'Custom_Sessions_expires_idx'`).Scan(&indexDef); err != nil || !strings.Contains(indexDef, "(expires)") {
		t.Errorf("expiry index %q, %v", indexDef, err)
	}
	// The sweeper's query uses the index rather than reading the table.
	if _, err := c.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	rows, err := c.Query(ctx, `EXPLAIN `+strings.Replace(s.sqlDeleteExpired, "$2", "10", 1), int64(0))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if rows.Err() != nil || !strings.Contains(plan.String(), "Custom_Sessions_expires_idx") {
		t.Errorf("DeleteExpired's plan does not use the expiry index (%v):\n%s", rows.Err(), plan.String())
	}
}

func TestMigrateConcurrently(t *testing.T) {
	// Nodes that start at once each migrate; each migration applies once.
	ctx := context.Background()
	dsn := testservers.StartPostgres(t)
	const nodes = 6
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			s, err := FromConfig(blockJSON(t, map[string]any{"dsn": dsn}))
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			errs[i] = s.Save(ctx, []store.Record{{ID: fmt.Sprint(i), Expires: time.Now().Add(time.Hour)}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	c := connect(t, dsn)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM wadi_sessions`).Scan(&n); err != nil || n != nodes {
		t.Errorf("%d records, %v; want %d", n, err, nodes)
	}
}

func TestMigrateRefusesNewer(t *testing.T) {
	ctx := context.Background()
	dsn := testservers.StartPostgres(t)
	c := connect(t, dsn)
	if _, err := c.Exec(ctx, `CREATE TABLE wadi_schema_versions (table_name text PRIMARY KEY, version integer NOT NULL);
		INSERT INTO wadi_schema_versions VALUES ('wadi_sessions', 99)`); err != nil {
		t.Fatal(err)
	}
	s, err := FromConfig(blockJSON(t, map[string]any{"dsn": dsn}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Load(ctx, "x")
	if err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Errorf("Load on a table of a later schema: %v; want a refusal naming the version", err)
	}
}

func TestChunks(t *testing.T) {
	exp := time.Unix(1_700_000_000, 0)
	rec := func(id string, n int) store.Record {
		return store.Record{ID: id, Expires: exp, Data: bytes.Repeat([]byte{'x'}, n)}
	}
	many := make([]store.Record, maxChunkRows+1)
	for i := range many {
		many[i] = rec(fmt.Sprint(i), 1)
	}
	big := []store.Record{rec("a", maxChunkBytes-10), rec("b", 20), rec("c", 1)}
	tests := []struct {
		name string
		recs []store.Record
		want [][]string // ids per chunk
	}{
		{"one", []store.Record{rec("a", 1)}, [][]string{{"a"}}},
		{"duplicates keep the last", []store.Record{rec("a", 1), rec("b", 1), rec("a", 2)}, [][]string{{"b", "a"}}},
		{"bytes", big, [][]string{{"a"}, {"b", "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]string
			for _, c := range chunks(tt.recs) {
				var ids []string
				for _, id := range c.ids {
					ids = append(ids, string(id))
				}
				got = append(got, ids)
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("chunks = %q, want %q", got, tt.want)
			}
		})
	}
	if cs := chunks(many); len(cs) != 2 || len(cs[0].ids) != maxChunkRows || len(cs[1].ids) != 1 {
		t.Errorf("%d records made %d chunks", len(many), len(cs))
	}
	if cs := chunks([]store.Record{rec("a", 1), rec("a", 3)}); len(cs[0].data[0]) != 3 {
		t.Errorf("the last record of an id does not win: %q", cs[0].data)
	}
}

func TestBatchOverChunks(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	defer s.Close()
	recs := make([]store.Record, 2*maxChunkRows+7)
	exp := time.Now().Add(time.Hour)
	for i := range recs {
		recs[i] = store.Record{ID: fmt.Sprintf("r%05d", i), Expires: exp, Data: []byte(fmt.Sprint(i))}
	}
	if err := s.Save(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, maxChunkRows, len(recs) - 1} {
		if got, err := s.Load(ctx, recs[i].ID); err != nil || string(got.Data) != fmt.Sprint(i) {
			t.Errorf("Load(%s) = %q, %v", recs[i].ID, got.Data, err)
		}
	}
	// A batch that fails part-way writes nothing: a constraint added behind
	// the store's back breaks its last chunk.
	c := connect(t, s.pool.Config().ConnConfig.ConnString())
	if _, err := c.Exec(ctx, `ALTER TABLE wadi_sessions ADD CONSTRAINT not_bad CHECK (data <> 'bad')`); err != nil {
		t.Fatal(err)
	}
	bad := slices.Clone(recs)
	for i := range bad {
		bad[i].Data = []byte("new")
	}
	bad[len(bad)-1].Data = []byte("bad")
	if err := s.Save(ctx, bad); err == nil || !strings.Contains(err.Error(), "not_bad") {
		t.Fatalf("Save breaking a constraint: %v", err)
	}
	if got, err := s.Load(ctx, recs[0].ID); err != nil || string(got.Data) != "0" {
		t.Errorf("the first chunk of a failed batch was written: %q, %v", got.Data, err)
	}
}

func TestBadIDs(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	defer s.Close()
	exp := time.Now().Add(time.Hour)
	for _, id := range []string{"", strings.Repeat("x", store.MaxIDLen+1)} {
		if err := s.Save(ctx, []store.Record{{ID: "ok", Expires: exp}, {ID: id, Expires: exp}}); err == nil {
			t.Errorf("Save with a %d-byte id returned no error", len(id))
		}
		if _, err := s.Load(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Load of a %d-byte id: %v, want ErrNotFound", len(id), err)
		}
		if err := s.Delete(ctx, []string{id}); err != nil {
			t.Errorf("Delete of a %d-byte id: %v", len(id), err)
		}
	}
	if _, err := s.Load(ctx, "ok"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rejected batch was partly written: Load(ok) = %v", err)
	}
}

// within runs f and fails t unless it returns an error naming addr within d.
func within(t *testing.T, d time.Duration, addr, call string, f func() error) error {
	t.Helper()
	start := time.Now()
	err := f()
	took := time.Since(start)
	switch {
	case err == nil:
		t.Errorf("%s succeeded against a server that is not answering", call)
	case !strings.Contains(err.Error(), addr):
		t.Errorf("%s: %v; want an error naming %s", call, err, addr)
	}
	if took > d {
		t.Errorf("%s took %v, want at most %v", call, took, d)
	}
	return err
}

// calls are the store's calls, each to be made while the server is away.
func calls(s store.Store) []struct {
	name string
	f    func(ctx context.Context) error
} {
	rec := store.Record{ID: "during", Expires: time.Now().Add(time.Hour), Data: []byte("x")}
	return []struct {
		name string
		f    func(ctx context.Context) error
	}{
		{"Save", func(ctx context.Context) error { return s.Save(ctx, []store.Record{rec}) }},
		{"Load", func(ctx context.Context) error { _, err := s.Load(ctx, "before"); return err }},
		{"Delete", func(ctx context.Context) error { return s.Delete(ctx, []string{"gone"}) }},
		{"DeleteExpired", func(ctx context.Context) error { _, err := s.DeleteExpired(ctx, time.Now(), 10); return err }},
	}
}

// TestErrorsShortenIDs: a session id is a bearer credential, and the host
// logs the store's errors, so they name an id by its first bytes only.
func TestErrorsShortenIDs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing listens there: every call's dial is refused at once.
	s, err := FromConfig(blockJSON(t, map[string]any{"dsn": "postgres://wadi@" + addr + "/db?sslmode=disable", "timeout": "2s"}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	id := rand.Text() // as long as a session id
	rec := store.Record{ID: id, Expires: time.Now().Add(time.Hour), Data: []byte("x")}
	tests := []struct {
		name  string
		call  func() error
		names bool // the error names the one id
	}{
		{"Load", func() error { _, err := s.Load(ctx, id); return err }, true},
		{"Save", func() error { return s.Save(ctx, []store.Record{rec}) }, false},
		{"Delete", func() error { return s.Delete(ctx, []string{id}) }, false},
	}
	for _, tt := range tests {
		err := tt.call()
		switch {
		case err == nil:
			t.Errorf("%s succeeded without a server", tt.name)
		case strings.Contains(err.Error(), id):
			t.Errorf("%s: %q carries the whole id %s; want it shortened", tt.name, err, id)
		case tt.names && !strings.Contains(err.Error(), store.LogID(id)):
			t.Errorf("%s: %q does not name the id as %s", tt.name, err, store.LogID(id))
		}
	}
}

// TestServerDown's timeout is long, so that a loaded machine does not fail
// it: a server that is down refuses connections at once, and the calls must
// fail long before it.
func TestServerDown(t *testing.T) {
	ctx := context.Background()
	p := testservers.NewPostgres(t)
	dsn := p.Database(t)
	s, err := FromConfig(blockJSON(t, map[string]any{"dsn": dsn, "timeout": "10s"}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A store whose table does not exist yet: made on the first call that
	// reaches the server.
	late, err := FromConfig(blockJSON(t, map[string]any{"dsn": dsn, "table": "late", "timeout": "10s"}))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	before := store.Record{ID: "before", Expires: time.Now().Add(time.Hour), Data: []byte("x")}
	if err := s.Save(ctx, []store.Record{before}); err != nil {
		t.Fatal(err)
	}

	p.StopImmediate(t)
	// Connections cut, connection refused: no need to wait for the timeout.
	for _, st := range []*Store{s, late} {
		for _, c := range calls(st) {
			within(t, time.Second, p.Addr(), c.name, func() error { return c.f(ctx) })
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	within(t, time.Second, p.Addr(), "Load with a short deadline", func() error { _, err := s.Load(short, "before"); return err })

	p.Start(t)
	// The server recovered its data; the connections it dropped are
	// replaced without failing a call.
	if got, err := s.Load(ctx, "before"); err != nil || string(got.Data) != "x" {
		t.Errorf("Load after the restart: %q, %v", got.Data, err)
	}
	for _, st := range []*Store{s, late} {
		for _, c := range calls(st) {
			if err := c.f(ctx); err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s of table %s after the restart: %v", c.name, st.table, err)
			}
		}
	}
	if _, err := late.Load(ctx, "during"); err != nil {
		t.Errorf("Load from the table made after the restart: %v", err)
	}
}

func TestUnresponsiveListener(t *testing.T) {
	// Something that accepts connections and never answers, such as a
	// half-dead proxy: the timeout bounds the connection's handshake too.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan []net.Conn)
	go func() {
		// Held open, unanswered, until the listener closes.
		var held []net.Conn
		defer func() { accepted <- held }()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	defer func() {
		l.Close()
		for _, c := range <-accepted {
			c.Close()
		}
	}()
	dsn := "postgres://wadi@" + l.Addr().String() + "/db?sslmode=disable"
	s, err := FromConfig(blockJSON(t, map[string]any{"dsn": dsn, "timeout": "200ms"}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range calls(s) {
		err := within(t, 2*time.Second, l.Addr().String(), c.name, func() error { return c.f(context.Background()) })
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v; want an error wrapping context.DeadlineExceeded", c.name, err)
		}
	}
}

func TestParseConfig(t *testing.T) {
	const dsn = "postgres://u:secret@db.example:6543/sessions?sslmode=disable"
	tests := []struct {
		name    string
		set     map[string]any
		want    settings
		wantErr string
	}{
		{name: "defaults", set: map[string]any{"dsn": dsn},
			want: settings{DSN: dsn, Table: DefaultTable, MaxConns: DefaultMaxConns, Timeout: DefaultTimeout}},
		{name: "everything", set: map[string]any{"dsn": dsn, "table": "_Mine2", "max_conns": 16, "timeout": "750ms"},
			want: settings{DSN: dsn, Table: "_Mine2", MaxConns: 16, Timeout: 750 * time.Millisecond}},
		{name: "key=value dsn", set: map[string]any{"dsn": "host=db.example port=6543 user=u dbname=sessions"},
			want: settings{DSN: "host=db.example port=6543 user=u dbname=sessions", Table: DefaultTable, MaxConns: DefaultMaxConns, Timeout: DefaultTimeout}},
		{name: "longest table", set: map[string]any{"dsn": dsn, "table": strings.Repeat("t", maxTableLen)},
			want: settings{DSN: dsn, Table: strings.Repeat("t", maxTableLen), MaxConns: DefaultMaxConns, Timeout: DefaultTimeout}},

		{name: "no dsn", set: nil, wantErr: "dsn is required"},
		{name: "empty dsn", set: map[string]any{"dsn": ""}, wantErr: "dsn is required"},
		{name: "bad dsn", set: map[string]any{"dsn": "postgres://u:secret@db.example:notaport/x"}, wantErr: "dsn"},
		{name: "table with a quote", set: map[string]any{"dsn": dsn, "table": `a"b`}, wantErr: "not an identifier"},
		{name: "qualified table", set: map[string]any{"dsn": dsn, "table": "public.sessions"}, wantErr: "not an identifier"},
		{name: "table starting with a digit", set: map[string]any{"dsn": dsn, "table": "1t"}, wantErr: "not an identifier"},
		{name: "empty table", set: map[string]any{"dsn": dsn, "table": ""}, wantErr: "not an identifier"},
		{name: "long table", set: map[string]any{"dsn": dsn, "table": strings.Repeat("t", maxTableLen+1)}, wantErr: "longer than"},
		{name: "versions table", set: map[string]any{"dsn": dsn, "table": versionsTable}, wantErr: "schema versions"},
		{name: "zero conns", set: map[string]any{"dsn": dsn, "max_conns": 0}, wantErr: "max_conns 0"},
		{name: "fractional conns", set: map[string]any{"dsn": dsn, "max_conns": 2.5}, wantErr: "max_conns 2.5"},
		{name: "too many conns", set: map[string]any{"dsn": dsn, "max_conns": maxMaxConns + 1}, wantErr: "max_conns"},
		{name: "bad timeout", set: map[string]any{"dsn": dsn, "timeout": "soon"}, wantErr: "timeout"},
		{name: "negative timeout", set: map[string]any{"dsn": dsn, "timeout": "-1s"}, wantErr: "not positive"},
		{name: "wrong type", set: map[string]any{"dsn": dsn, "max_conns": "4"}, wantErr: "cannot unmarshal string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pc, err := parseConfig(blockJSON(t, tt.set))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "pgstore: ") {
					t.Fatalf("parseConfig = %v; want an error mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q repeats the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("settings = %+v, want %+v", got, tt.want)
			}
			if pc.MaxConns != tt.want.MaxConns || pc.MinConns != 0 || pc.ConnConfig.ConnectTimeout != tt.want.Timeout {
				t.Errorf("pool config %d conns (min %d), connect timeout %v; do not follow the settings",
					pc.MaxConns, pc.MinConns, pc.ConnConfig.ConnectTimeout)
			}
		})
	}
}

// The benchmarks shared by the builtin stores, against this one.
func BenchmarkSave(b *testing.B) { storebench.Save(b, openPgstore) }

func BenchmarkSaveBatch(b *testing.B) { storebench.SaveBatch(b, openPgstore) }

func BenchmarkLoad(b *testing.B) { storebench.Load(b, openPgstore) }

var openPgstore storebench.Open = func(tb testing.TB) store.Store { return openStore(tb, nil) }
