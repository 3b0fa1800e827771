package pluginhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/store"
)

// testPlugin builds the SDK's test plugin (a real plugin program serving
// any kind) once per test binary.
var testPlugin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "pluginhost-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "testplugin")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/wadi-go/wadi/sdk/internal/testplugin").CombinedOutput()
	if err != nil {
		return "", errors.New("go build testplugin: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := testPlugin(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func pluginBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs plugin processes")
	}
	bin, err := testPlugin()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// syncBuffer is a log destination safe for the plugin's log goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testConfig = `{"path":"p","size":5,"sync":true,"tags":["a"],"labels":null}`

func start(t *testing.T, spec Spec, kind base.Kind, opts Options) (*Supervisor, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	opts.Logger = hclog.New(&hclog.LoggerOptions{Name: "host", Output: logs, Level: hclog.Debug})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, spec, kind, []byte(testConfig), base.Node{Name: "red", Zone: "z1"}, opts)
	if err != nil {
		t.Fatalf("Start: %v\nlogs:\n%s", err, logs)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, logs
}

func sha(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// The host refuses, with an error that says why, every plugin it must not
// run: a changed binary, one of another kind, one with no API version in
// common, one that is not a plugin at all.
func TestStartRefuses(t *testing.T) {
	bin := pluginBin(t)
	notPlugin := filepath.Join(t.TempDir(), "not-a-plugin")
	if err := os.WriteFile(notPlugin, []byte("#!/bin/sh\necho hello\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wrongSum := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		spec Spec
		kind base.Kind
		want string
	}{
		{"checksum differs", Spec{Name: "p", Path: bin, SHA256: wrongSum, Args: []string{"store"}}, base.KindStore, "does not match the sha256"},
		{"checksum malformed", Spec{Name: "p", Path: bin, SHA256: "xyz", Args: []string{"store"}}, base.KindStore, "is not a hex SHA-256"},
		{"wrong kind", Spec{Name: "p", Path: bin, Args: []string{"codec"}}, base.KindStore, `plugin "p" (` + bin + `) is a codec, not a store`},
		{"wrong kind, the other way", Spec{Name: "p", Path: bin, Args: []string{"store"}}, base.KindReplicator, `plugin "p" (` + bin + `) is a store, not a replicator`},
		{"no common API version", Spec{Name: "p", Path: bin, Args: []string{"store", "api=99"}}, base.KindStore, "speaks no plugin API version this host speaks"},
		{"not a plugin", Spec{Name: "p", Path: notPlugin}, base.KindStore, `plugin "p": starting`},
		{"missing binary", Spec{Name: "p", Path: filepath.Join(t.TempDir(), "nope")}, base.KindStore, `plugin "p": starting`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := Start(ctx, tt.spec, tt.kind, []byte(testConfig), base.Node{Name: "red"}, Options{StartTimeout: 5 * time.Second})
			if err == nil {
				_ = s.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
	t.Run("checksum matches", func(t *testing.T) {
		s, _ := start(t, Spec{Name: "p", Path: bin, SHA256: sha(t, bin), Args: []string{"store"}}, base.KindStore, Options{})
		if info, ok := s.Info(); !ok || info.Kind != base.KindStore {
			t.Fatalf("Info = %+v, %v", info, ok)
		}
	})
}

// A supervised plugin answers its kind's calls, has been configured with
// the block and the node, and logs into the host's log under its name.
func TestSupervisedCalls(t *testing.T) {
	bin := pluginBin(t)
	s, logs := start(t, Spec{Name: "mystore", Path: bin, Args: []string{"store"}}, base.KindStore, Options{})
	ctx := context.Background()
	st := s.Store()
	rec := store.Record{ID: "a", Expires: time.Now().Add(time.Hour), Data: []byte("x")}
	if err := st.Save(ctx, []store.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Load(ctx, "a"); err != nil || string(got.Data) != "x" {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	if _, err := st.Load(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Load(missing) = %v, want ErrNotFound through the supervisor", err)
	}
	// testimpl logs "configured" at info with the node's name and zone.
	waitFor(t, "the plugin's log line", func() bool {
		l := logs.String()
		return strings.Contains(l, "[INFO]  host.mystore") && strings.Contains(l, "configured") && strings.Contains(l, "zone=z1")
	})
	if s.PID() == 0 {
		t.Fatal("no pid")
	}
}

// What a plugin writes after Serve has swapped its os.Stderr and os.Stdout
// reaches the host's log under the plugin's name at its level: the lines
// of a logger made in Configure (with their fields), and plain writes to
// stderr and stdout.
func TestPluginLogsAfterServe(t *testing.T) {
	bin := pluginBin(t)
	_, logs := start(t, Spec{Name: "p", Path: bin, Args: []string{"store", "late-log"}}, base.KindStore, Options{})
	tests := []struct {
		name   string
		line   string // the start of the line, after the time
		fields []string
	}{
		{"logger made after Serve", "[WARN]  host.p.testplugin: logged from configure:", []string{"@module=late", "node=red"}},
		{"stderr", "[INFO]  host.p.testplugin: written to stderr", nil},
		{"stdout, with a level prefix", "[ERROR] host.p.testplugin: written to stdout", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			has := func() bool {
				for line := range strings.Lines(logs.String()) {
					_, rest, _ := strings.Cut(line, " ")
					if !strings.HasPrefix(rest, tt.line) {
						continue
					}
					all := true
					for _, f := range tt.fields {
						all = all && strings.Contains(rest, " "+f)
					}
					if all {
						return true
					}
				}
				return false
			}
			deadline := time.Now().Add(10 * time.Second)
			for !has() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if !has() {
				t.Fatalf("host log lacks %q with %q:\n%s", tt.line, tt.fields, logs)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A plugin killed with SIGKILL, or stopped with SIGSTOP so that it hangs,
// fails its calls with ErrUnavailable within the call deadline, and is
// restarted and configured again; calls then succeed.
func TestSupervisorRestarts(t *testing.T) {
	bin := pluginBin(t)
	tests := []struct {
		name string
		sig  syscall.Signal
		why  string
	}{
		{"crash", syscall.SIGKILL, "exited"},
		{"hang", syscall.SIGSTOP, "no answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const callTimeout = 500 * time.Millisecond
			s, logs := start(t, Spec{Name: "p", Path: bin, Args: []string{"store"}}, base.KindStore, Options{
				CallTimeout:    callTimeout,
				HealthInterval: time.Hour, // only the failed call may notice
				MinBackoff:     10 * time.Millisecond,
			})
			pid := s.PID()
			if err := syscall.Kill(pid, tt.sig); err != nil {
				t.Fatal(err)
			}
			if tt.sig == syscall.SIGSTOP {
				// kill(2) returns before every thread has stopped: a thread
				// still running could answer the call below.
				waitFor(t, "every thread of the process to stop", func() bool {
					stats, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/stat")
					if err != nil || len(stats) == 0 {
						return false
					}
					for _, f := range stats {
						st, err := os.ReadFile(f)
						_, after, ok := strings.Cut(string(st), ") ")
						if err != nil || !ok || !strings.HasPrefix(after, "T") {
							return false
						}
					}
					return true
				})
			}
			if tt.sig == syscall.SIGKILL {
				// Let the process's exit reach go-plugin.
				waitFor(t, "the exit to be seen", func() bool { return s.current().client.Exited() })
			}
			ctx := context.Background()
			rec := store.Record{ID: "a", Expires: time.Now().Add(time.Hour), Data: []byte("x")}
			began := time.Now()
			err := s.Store().Save(ctx, []store.Record{rec})
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("Save on a %s plugin = %v, want ErrUnavailable saying %q", tt.name, err, tt.why)
			}
			if d := time.Since(began); d > callTimeout+2*time.Second {
				t.Fatalf("the failed call took %v", d)
			}
			waitFor(t, "the restart", func() bool { return s.Restarts() == 1 && s.PID() != 0 })
			if s.PID() == pid {
				t.Fatal("same pid after the restart")
			}
			if err := s.Store().Save(ctx, []store.Record{rec}); err != nil {
				t.Fatalf("Save after the restart: %v", err)
			}
			if n := strings.Count(logs.String(), "configured"); n < 2 {
				t.Fatalf("configured %d times, want again after the restart\n%s", n, logs)
			}
			if !strings.Contains(logs.String(), "plugin restarted") {
				t.Fatalf("no restart logged:\n%s", logs)
			}
		})
	}
}

// A plugin that never answers a method is judged hung by the supervisor's
// clock whichever deadline fires first: with the caller's deadline equal to
// the call timeout (the host's default: its store timeout equals it), the
// call fails saying so and the plugin is restarted. A caller's own shorter
// deadline is not the plugin's fault.
func TestSupervisorHungCall(t *testing.T) {
	bin := pluginBin(t)
	const callTimeout = 500 * time.Millisecond
	tests := []struct {
		name     string
		deadline time.Duration // the caller's; 0: none
		hung     bool
	}{
		{"caller deadline equals the call timeout", callTimeout, true},
		{"no caller deadline", 0, true},
		{"caller's shorter deadline", callTimeout / 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := start(t, Spec{Name: "p", Path: bin, Args: []string{"store", "hang"}}, base.KindStore, Options{
				CallTimeout:    callTimeout,
				HealthInterval: time.Hour, // only the call may notice
				MinBackoff:     10 * time.Millisecond,
			})
			pid := s.PID()
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			err := s.Store().Save(ctx, []store.Record{{ID: "a", Expires: time.Now().Add(time.Hour)}})
			if err == nil {
				t.Fatal("Save on a hung plugin succeeded")
			}
			want := `plugin "p": save: plugin unavailable: no answer within 500ms`
			if tt.hung != strings.Contains(err.Error(), want) || tt.hung != errors.Is(err, ErrUnavailable) {
				t.Fatalf("Save = %v; want hung %v (ErrUnavailable saying %q)", err, tt.hung, want)
			}
			if !tt.hung {
				if !s.Up() || s.PID() != pid || s.Restarts() != 0 {
					t.Fatalf("taken down for the caller's deadline: up %v, pid %d (was %d), restarts %d", s.Up(), s.PID(), pid, s.Restarts())
				}
				return
			}
			waitFor(t, "the restart", func() bool { return s.Restarts() == 1 && s.PID() != 0 })
			if s.PID() == pid {
				t.Fatal("same pid after the restart")
			}
			if _, err := s.Store().Load(context.Background(), "a"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Load after the restart = %v, want ErrNotFound", err)
			}
		})
	}
}

// Whether a failed call went unanswered is judged by how long it ran,
// whichever deadline fired and however the failure reads: the caller's
// (DeadlineExceeded), or the plugin's gRPC server cancelling the stream a
// moment before (Canceled, the caller's context still alive).
func TestUnanswered(t *testing.T) {
	const callTimeout = 10 * time.Second
	s := &Supervisor{opts: Options{CallTimeout: callTimeout}}
	expired, cancel := context.WithDeadline(context.Background(), time.Now())
	defer cancel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	alive := context.Background()
	rstCancel := fmt.Errorf("store.Save: stream terminated by RST_STREAM with error code: CANCEL: %w", context.Canceled)
	tests := []struct {
		name string
		ctx  context.Context // the caller's
		err  error
		ran  time.Duration
		want bool
	}{
		{"caller's deadline of the call timeout fired first", expired, context.DeadlineExceeded, callTimeout - time.Millisecond, true},
		{"supervisor's deadline fired", alive, context.DeadlineExceeded, callTimeout, true},
		{"server cancelled the stream just before", alive, rstCancel, callTimeout - time.Millisecond, true},
		{"caller's shorter deadline", expired, context.DeadlineExceeded, callTimeout / 2, false},
		{"caller cancelled", cancelled, context.Canceled, callTimeout, false},
		{"plugin answered with an error, late", alive, errors.New("disk full"), callTimeout, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.unanswered(tt.ctx, tt.err, tt.ran); got != tt.want {
				t.Fatalf("unanswered(%v, %v, %v) = %v, want %v", tt.ctx.Err(), tt.err, tt.ran, got, tt.want)
			}
		})
	}
}

// The health check notices a dead plugin with no call made, and a plugin
// that keeps failing, to start or soon after it started, is retried with a
// growing backoff, not given up on and not restarted as fast as it can.
func TestSupervisorHealthAndBackoff(t *testing.T) {
	bin := pluginBin(t)
	const minBackoff, maxBackoff = 50 * time.Millisecond, 400 * time.Millisecond
	tests := []struct {
		name string
		args []string
		// event is the log line of each attempt to restart.
		event string
		// fail makes the plugin fail from now on; it returns what makes it
		// work again, or nil.
		fail func(t *testing.T, s *Supervisor, path string) (repair func())
	}{
		{"start fails", []string{"store"}, "plugin restart failed", func(t *testing.T, s *Supervisor, path string) func() {
			// Take the binary away so that restarts fail, then kill the
			// process: only the health check sees it.
			hidden := path + ".hidden"
			if err := os.Rename(path, hidden); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Kill(s.PID(), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := os.Rename(hidden, path); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"crashes on every call", []string{"store", "crash"}, "plugin restarted", func(t *testing.T, s *Supervisor, path string) func() {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				for ctx.Err() == nil {
					_ = s.Store().Save(ctx, []store.Record{{ID: "a", Expires: time.Now().Add(time.Hour)}})
					time.Sleep(5 * time.Millisecond)
				}
			}()
			t.Cleanup(func() { cancel(); <-done })
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plugin")
			if err := os.Link(bin, path); err != nil {
				// Another file system: copy instead.
				b, err := os.ReadFile(bin)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			s, logs := start(t, Spec{Name: "p", Path: path, Args: tt.args}, base.KindStore, Options{
				HealthInterval: 20 * time.Millisecond,
				MinBackoff:     minBackoff,
				MaxBackoff:     maxBackoff,
			})
			// Up, Name and Kind are what the host's plugin metrics read.
			if !s.Up() || s.Name() != "p" || s.Kind() != base.KindStore {
				t.Fatalf("started: up %v, name %q, kind %q", s.Up(), s.Name(), s.Kind())
			}
			repair := tt.fail(t, s, path)
			const attempts = 5
			waitFor(t, "restart attempts", func() bool { return len(logTimes(t, logs.String(), tt.event)) >= attempts })
			// Each wait at least doubles up to the maximum; the logs' times
			// are to the millisecond.
			at := logTimes(t, logs.String(), tt.event)
			for i := 1; i < attempts; i++ {
				want := min(minBackoff<<(i-1), maxBackoff) - time.Millisecond
				if gap := at[i].Sub(at[i-1]); gap < want {
					t.Fatalf("restart attempt %d came %v after the one before, want at least %v (attempts at %v)\n%s", i, gap, want, at[:attempts], logs)
				}
			}
			if repair == nil {
				return
			}
			if s.Up() {
				t.Fatal("up while its restarts fail")
			}
			if err := s.Store().Delete(context.Background(), []string{"a"}); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Delete while down = %v, want ErrUnavailable", err)
			}
			repair()
			waitFor(t, "the restart", func() bool { return s.Restarts() == 1 })
			if !s.Up() {
				t.Fatal("not up after the restart")
			}
			if err := s.Store().Delete(context.Background(), []string{"a"}); err != nil {
				t.Fatalf("Delete after the restart: %v", err)
			}
		})
	}
}

// logTimes returns the times of the host's log lines that say msg.
func logTimes(t *testing.T, logs, msg string) []time.Time {
	t.Helper()
	var at []time.Time
	for line := range strings.Lines(logs) {
		if !strings.Contains(line, "]  host.p: "+msg) && !strings.Contains(line, "] host.p: "+msg) {
			continue
		}
		stamp, _, _ := strings.Cut(line, " ")
		ts, err := time.Parse(hclog.TimeFormat, stamp)
		if err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		at = append(at, ts)
	}
	return at
}

// The backoff grows with each quick failure up to its maximum, whether the
// start failed or the plugin went down soon after; only a plugin that
// stayed up for the stable period is restarted at once, and resets it.
func TestBackoff(t *testing.T) {
	const minB, maxB, stable = 100 * time.Millisecond, time.Second, time.Minute
	type step struct {
		up   time.Duration // how long it was up before going down; -1: its start failed
		want time.Duration
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a crash after a stable run restarts at once", []step{{time.Hour, 0}, {stable, 0}}},
		{"a crash soon after the start waits the minimum", []step{{time.Second, minB}}},
		{"a crash loop backs off to the maximum", []step{{0, minB}, {0, 2 * minB}, {10 * time.Millisecond, 4 * minB}, {0, 8 * minB}, {0, maxB}, {0, maxB}}},
		{"failed starts back off", []step{{time.Hour, 0}, {-1, minB}, {-1, 2 * minB}, {-1, 4 * minB}}},
		{"failed starts and quick crashes share the backoff", []step{{-1, minB}, {0, 2 * minB}, {-1, 4 * minB}}},
		{"a stable run resets it", []step{{0, minB}, {0, 2 * minB}, {0, 4 * minB}, {stable, 0}, {0, minB}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackoff(Options{MinBackoff: minB, MaxBackoff: maxB, StablePeriod: stable})
			for i, st := range tt.steps {
				var got time.Duration
				if st.up < 0 {
					got = b.next()
				} else {
					got = b.down(st.up)
				}
				if got != st.want {
					t.Fatalf("step %d (up %v): wait %v, want %v", i, st.up, got, st.want)
				}
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	bin := pluginBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, kind := range base.Kinds {
		d, err := Describe(ctx, Spec{Name: "p", Path: bin, Args: []string{string(kind)}}, "", hclog.NewNullLogger())
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if d.Info.Kind != kind || d.Info.Name != "test-"+string(kind) || len(d.Schema.Attributes) != 5 {
			t.Fatalf("%s: %+v", kind, d)
		}
	}
}

// The plugin's stdout and stderr arrive in chunks that need not end lines:
// each whole line is logged once, an hclog JSON line at its level with its
// fields, any other verbatim at the level its prefix names or at info.
func TestStdioLogger(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		flush  bool
		want   string
	}{
		{"plain line", []string{"hello\n"}, false, "[INFO]  p: hello\n"},
		{"line split across chunks", []string{"hel", "lo\nwor", "ld\n"}, false, "[INFO]  p: hello\n[INFO]  p: world\n"},
		{"unended line waits for its end", []string{"part"}, false, ""},
		{"unended line is logged on flush", []string{"part"}, true, "[INFO]  p: part\n"},
		{"level prefix", []string{"[WARN] careful\r\n"}, false, "[WARN]  p: careful\n"},
		{"blank lines skipped", []string{"\n \n"}, false, ""},
		{"hclog JSON", []string{`{"@level":"error","@message":"failed","@module":"m","@timestamp":"2026-01-02T03:04:05.000000Z","n":3}` + "\n"}, false,
			"[ERROR] p: failed: @module=m n=3 timestamp=2026-01-02T03:04:05.000000Z\n"},
		{"other JSON verbatim", []string{`{"level":"error"}` + "\n"}, false, `[INFO]  p: {"level":"error"}` + "\n"},
		{"level below the logger's dropped", []string{`{"@level":"trace","@message":"noise"}` + "\n"}, false, ""},
		{"overlong line in pieces", []string{strings.Repeat("x", maxLogLine), "y\n"}, false,
			"[INFO]  p: " + strings.Repeat("x", maxLogLine) + "\n[INFO]  p: y\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w := newStdioLogger(hclog.New(&hclog.LoggerOptions{Name: "p", Output: &out, Level: hclog.Debug, DisableTime: true}))
			for _, c := range tt.chunks {
				if n, err := w.Write([]byte(c)); n != len(c) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if tt.flush {
				w.Flush()
			}
			if got := out.String(); got != tt.want {
				t.Fatalf("logged\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
