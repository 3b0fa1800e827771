package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/sdk/base"
)

// ErrUnavailable is wrapped by the errors of calls made while a plugin is
// down (crashed, hung, or restarting): the caller keeps its data and retries
// later.
var ErrUnavailable = errors.New("plugin unavailable")

const defaultStartTimeout = 10 * time.Second

// Options tune a Supervisor. Zero values take the defaults.
type Options struct {
	Logger hclog.Logger
	// CallTimeout bounds every call; a plugin that does not answer in time is
	// considered hung, killed and restarted. Time is judged by the
	// supervisor's clock: a caller's deadline of the same length (the host's
	// store timeout) that fires first still counts. Default 10s.
	CallTimeout time.Duration
	// StartTimeout bounds starting the process and its first answers.
	// Default 10s.
	StartTimeout time.Duration
	// HealthInterval is how often the process is checked. Default 1s.
	HealthInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between restart attempts,
	// which doubles after each failed start and after each crash (or hang)
	// of a plugin that had not yet stayed up for StablePeriod. Defaults
	// 100ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// StablePeriod is how long a plugin must stay up for its backoff to
	// reset: one that then fails is restarted at once, while one that keeps
	// failing soon after it starts is restarted ever more slowly. Default
	// 1m.
	StablePeriod time.Duration
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.CallTimeout, 10*time.Second)
	set(&o.StartTimeout, defaultStartTimeout)
	set(&o.HealthInterval, time.Second)
	set(&o.MinBackoff, 100*time.Millisecond)
	set(&o.MaxBackoff, 30*time.Second)
	set(&o.StablePeriod, time.Minute)
}

// Supervisor keeps one plugin process running and configured, and routes
// calls to it.
type Supervisor struct {
	spec   Spec
	kind   base.Kind
	config []byte
	node   base.Node
	opts   Options
	log    hclog.Logger

	mu  sync.RWMutex
	cur *instance // nil while down

	restarts atomic.Int64
	kick     chan struct{}
	stop     context.CancelFunc
	done     chan struct{}
}

// Start launches the plugin as kind, configures it with the decoded block
// and the node, and supervises it until Close. A plugin that cannot be
// started or configured now is an error: the node should not start with a
// strategy it cannot use.
func Start(ctx context.Context, spec Spec, kind base.Kind, config []byte, node base.Node, opts Options) (*Supervisor, error) {
	opts.defaults()
	s := &Supervisor{
		spec: spec, kind: kind, config: config, node: node, opts: opts,
		log:  opts.Logger.Named(spec.Name),
		kick: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	inst, err := s.startInstance(ctx)
	if err != nil {
		return nil, err
	}
	s.cur = inst
	mctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.monitor(mctx)
	s.log.Info("plugin started", "kind", kind, "path", spec.Path, "version", inst.info.Version, "pid", inst.pid())
	return s, nil
}

func (s *Supervisor) startInstance(ctx context.Context) (*instance, error) {
	inst, err := launch(ctx, s.spec, s.kind, s.log, s.opts.StartTimeout)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	if err := inst.impl.Configure(cctx, s.config, s.node); err != nil {
		inst.kill()
		return nil, fmt.Errorf("plugin %q: configure: %w", s.spec.Name, err)
	}
	return inst, nil
}

// Restarts reports how many times the plugin has been restarted.
func (s *Supervisor) Restarts() int64 { return s.restarts.Load() }

// Up reports whether the plugin is serving now: false while it is down
// between a crash (or hang, or failed health check) and its restart. It
// is what the host's plugin health metric reads.
func (s *Supervisor) Up() bool { return s.current() != nil }

// Name is the plugin's name in the configuration.
func (s *Supervisor) Name() string { return s.spec.Name }

// Kind is the strategy kind the plugin serves as.
func (s *Supervisor) Kind() base.Kind { return s.kind }

// Info is what the running plugin said about itself at start.
func (s *Supervisor) Info() (base.Info, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cur == nil {
		return base.Info{}, false
	}
	return s.cur.info, true
}

// PID is the process id of the running plugin, 0 while it is down.
func (s *Supervisor) PID() int {
	if inst := s.current(); inst != nil {
		return inst.pid()
	}
	return 0
}

func (s *Supervisor) current() *instance {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur
}

// call runs fn against the running plugin with the call deadline. A plugin
// that is down fails the call at once; one that crashed or hung during the
// call is taken down and restarted in the background.
func (s *Supervisor) call(ctx context.Context, op string, fn func(ctx context.Context, p base.Plugin) error) error {
	inst := s.current()
	if inst == nil {
		s.poke()
		return fmt.Errorf("%s plugin %q: %s: %w: restarting", s.kind, s.spec.Name, op, ErrUnavailable)
	}
	began := time.Now()
	cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	err := fn(cctx, inst.impl)
	hung := err != nil && s.unanswered(ctx, err, time.Since(began))
	cancel()
	if err == nil {
		return nil
	}
	switch {
	case inst.client.Exited():
		s.down(inst, "plugin process exited")
		return fmt.Errorf("%s plugin %q: %s: %w: the process exited: %v", s.kind, s.spec.Name, op, ErrUnavailable, err)
	case hung:
		s.down(inst, fmt.Sprintf("no answer within %v", s.opts.CallTimeout))
		return fmt.Errorf("%s plugin %q: %s: %w: no answer within %v", s.kind, s.spec.Name, op, ErrUnavailable, s.opts.CallTimeout)
	}
	return err
}

// unanswered reports whether a call that failed with err after running for
// ran went unanswered for the supervisor's CallTimeout. That is judged by
// the supervisor's clock, not by which deadline fired or how: the host's
// store timeout equals CallTimeout and is set just before the call, so the
// caller's deadline fires a moment before the supervisor's; and the plugin's
// gRPC server, given the deadline too, may cancel the stream (RST_STREAM
// CANCEL) a moment before either. The caller's own cancel, its deadline
// well before CallTimeout, or an error the plugin answered with, say
// nothing of a hang.
func (s *Supervisor) unanswered(ctx context.Context, err error, ran time.Duration) bool {
	if errors.Is(ctx.Err(), context.Canceled) {
		return false
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return false
	}
	slack := min(s.opts.CallTimeout/10, 100*time.Millisecond)
	return ran >= s.opts.CallTimeout-slack
}

// down takes inst out of service (if it still is the current instance),
// kills it and wakes the monitor to restart it.
func (s *Supervisor) down(inst *instance, why string) {
	s.mu.Lock()
	if s.cur != inst {
		s.mu.Unlock()
		return
	}
	s.cur = nil
	s.mu.Unlock()
	s.log.Error("plugin failed; restarting it", "reason", why)
	go inst.kill() // Kill waits for a graceful exit; callers must not.
	s.poke()
}

func (s *Supervisor) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Supervisor) monitor(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(s.opts.HealthInterval)
	defer tick.Stop()
	policy := newBackoff(s.opts)
	upSince := time.Now() // of the current instance; zero once it is down
	var next time.Time    // no restart before this
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.kick:
		}
		if inst := s.current(); inst != nil {
			if reason := s.unhealthy(inst); reason != "" {
				s.down(inst, reason)
			}
			continue
		}
		if !upSince.IsZero() { // it has just gone down
			wait := policy.down(time.Since(upSince))
			upSince = time.Time{}
			if wait > 0 {
				s.log.Info("plugin failed soon after it started; delaying its restart", "retry_in", wait)
				next = time.Now().Add(wait)
				time.AfterFunc(wait, s.poke)
			}
		}
		if time.Now().Before(next) {
			continue
		}
		inst, err := s.startInstance(ctx)
		if err != nil {
			wait := policy.next()
			s.log.Error("plugin restart failed", "error", err, "retry_in", wait)
			next = time.Now().Add(wait)
			time.AfterFunc(wait, s.poke)
			continue
		}
		if ctx.Err() != nil {
			inst.kill()
			return
		}
		s.mu.Lock()
		s.cur = inst
		s.mu.Unlock()
		upSince = time.Now()
		n := s.restarts.Add(1)
		s.log.Info("plugin restarted", "restarts", n, "pid", inst.pid())
	}
}

// backoff is the supervisor's restart policy. A successful start does not
// reset it: a plugin that crashes on its first call would otherwise be
// restarted as fast as it can start. Only staying up for the stable period
// does.
type backoff struct {
	min, max, stable time.Duration
	wait             time.Duration // before the next restart of a quick failure
}

func newBackoff(o Options) *backoff {
	return &backoff{min: o.MinBackoff, max: o.MaxBackoff, stable: o.StablePeriod, wait: o.MinBackoff}
}

// down returns how long to wait before restarting a plugin that went down
// after being up for up.
func (b *backoff) down(up time.Duration) time.Duration {
	if up >= b.stable {
		b.wait = b.min
		return 0 // a plugin that ran fine for a while comes back at once
	}
	return b.next()
}

// next returns the wait before the next restart, and doubles it.
func (b *backoff) next() time.Duration {
	d := b.wait
	b.wait = min(b.wait*2, b.max)
	return d
}

// unhealthy returns why inst should be taken down, or "".
func (s *Supervisor) unhealthy(inst *instance) string {
	if inst.client.Exited() {
		return "plugin process exited"
	}
	// go-plugin's Ping has no deadline: a stopped process would block it.
	pinged := make(chan error, 1)
	go func() { pinged <- inst.rpc.Ping() }()
	select {
	case err := <-pinged:
		if err != nil {
			return fmt.Sprintf("health check failed: %v", err)
		}
		return ""
	case <-time.After(s.opts.CallTimeout):
		return fmt.Sprintf("health check unanswered within %v", s.opts.CallTimeout)
	}
}

// Close stops supervising and stops the plugin process.
func (s *Supervisor) Close() error {
	s.stop()
	<-s.done
	s.mu.Lock()
	inst := s.cur
	s.cur = nil
	s.mu.Unlock()
	if inst != nil {
		inst.kill()
	}
	return nil
}
