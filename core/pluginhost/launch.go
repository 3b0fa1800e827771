// Package pluginhost is the host side of strategy plugins: it starts plugin
// processes through go-plugin, checks that they are what the configuration
// says (checksum, kind, API version), configures them, and supervises them:
// a plugin that crashes or hangs is killed and restarted with backoff while
// its calls fail fast with a clear error.
package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wadi-go/wadi/sdk"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/schema"
)

// Spec says how to start an external plugin.
type Spec struct {
	// Name is the plugin's name in the configuration; its logs appear under
	// it.
	Name string
	Path string
	// SHA256 is the expected checksum of the executable, in hex; empty means
	// unchecked.
	SHA256 string
	Args   []string
}

// instance is one running plugin process.
type instance struct {
	client *plugin.Client
	rpc    plugin.ClientProtocol
	impl   base.Plugin
	info   base.Info
	// stdio log what the plugin writes to its stdout and stderr after
	// Serve.
	stdio []*stdioLogger
}

// killGrace bounds go-plugin's graceful stop: it asks the plugin to shut
// down over gRPC with no deadline, which a hung (or stopped) plugin never
// answers.
const killGrace = 2 * time.Second

// kill stops the plugin process: gracefully if it answers within
// killGrace, else with SIGKILL, which also ends go-plugin's wait.
func (i *instance) kill() {
	pid := i.pid()
	done := make(chan struct{})
	go func() {
		defer close(done)
		i.client.Kill()
	}()
	select {
	case <-done:
		return
	case <-time.After(killGrace):
	}
	if pid > 0 {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill() // gone already is as good
		}
	}
	<-done
	for _, w := range i.stdio {
		w.Flush()
	}
}

func (i *instance) pid() int {
	if rc := i.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// launch starts the plugin and dispenses it as kind. An empty kind asks the
// plugin what it is (for describe).
func launch(ctx context.Context, spec Spec, kind base.Kind, log hclog.Logger, startTimeout time.Duration) (*instance, error) {
	var secure *plugin.SecureConfig
	if spec.SHA256 != "" {
		sum, err := hex.DecodeString(spec.SHA256)
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("plugin %q: sha256 %q is not a hex SHA-256", spec.Name, spec.SHA256)
		}
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	// go-plugin logs the process's stderr under the program's name; what
	// the plugin writes after Serve swapped os.Stdout and os.Stderr goes
	// there too.
	plog := log.Named(filepath.Base(cmd.Path))
	stdout, stderr := newStdioLogger(plog), newStdioLogger(plog)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.VersionedPlugins(nil),
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           log,
		StartTimeout:     startTimeout,
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		SyncStdout:       stdout,
		SyncStderr:       stderr,
	})
	inst := &instance{client: client, stdio: []*stdioLogger{stdout, stderr}}
	rpc, err := client.Client()
	if err != nil {
		inst.kill()
		return nil, startError(spec, err)
	}
	inst.rpc = rpc
	kinds := base.Kinds
	if kind != "" {
		kinds = []base.Kind{kind}
	}
	var lastErr error
	for _, k := range kinds {
		impl, err := sdk.DispenseKind(rpc, k)
		if err != nil {
			lastErr = err
			continue
		}
		info, err := infoWithin(ctx, impl, startTimeout)
		if err != nil {
			lastErr = err
			continue
		}
		inst.impl, inst.info = impl, info
		break
	}
	if inst.impl == nil {
		err := kindError(ctx, spec, rpc, kind, lastErr, startTimeout)
		inst.kill()
		return nil, err
	}
	if err := checkInfo(spec, inst.info, kind, client.NegotiatedVersion()); err != nil {
		inst.kill()
		return nil, err
	}
	return inst, nil
}

// kindError says why the plugin serves no kind the host can use (err is
// the last kind's failure). A plugin asked for a kind it does not serve
// answers Unimplemented, which says nothing of what it is: the Info of the
// kind it does serve does.
func kindError(ctx context.Context, spec Spec, rpc plugin.ClientProtocol, kind base.Kind, err error, timeout time.Duration) error {
	if kind == "" {
		return fmt.Errorf("plugin %q (%s) serves no strategy kind this host knows: %w", spec.Name, spec.Path, err)
	}
	if status.Code(err) == codes.Unimplemented {
		for _, k := range base.Kinds {
			if k == kind {
				continue
			}
			impl, derr := sdk.DispenseKind(rpc, k)
			if derr != nil {
				continue
			}
			if _, ierr := infoWithin(ctx, impl, timeout); ierr == nil {
				return wrongKind(spec, k, kind)
			}
		}
	}
	return fmt.Errorf("plugin %q (%s) does not serve the %s kind: %w", spec.Name, spec.Path, kind, err)
}

func wrongKind(spec Spec, is, want base.Kind) error {
	return fmt.Errorf("plugin %q (%s) is a %s, not a %s", spec.Name, spec.Path, is, want)
}

func infoWithin(ctx context.Context, p base.Plugin, d time.Duration) (base.Info, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return p.Info(ctx)
}

// startError turns go-plugin's start failures into errors that say what to
// do about them.
func startError(spec Spec, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("plugin %q: the checksum of %s does not match the sha256 in the configuration; refusing to run it: %w", spec.Name, spec.Path, err)
	case strings.Contains(msg, "incompatible API version"), strings.Contains(msg, "incompatible core API version"):
		return fmt.Errorf("plugin %q (%s) speaks no plugin API version this host speaks (host: %v): %w", spec.Name, spec.Path, hostVersions(), err)
	}
	return fmt.Errorf("plugin %q: starting %s: %w", spec.Name, spec.Path, err)
}

func hostVersions() []int {
	var vs []int
	for v := range sdk.VersionedPlugins(nil) {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

func checkInfo(spec Spec, info base.Info, kind base.Kind, negotiated int) error {
	if kind != "" && info.Kind != kind {
		return wrongKind(spec, info.Kind, kind)
	}
	if !slices.Contains(info.APIVersions, negotiated) {
		return fmt.Errorf("plugin %q (%s) negotiated API version %d but declares %v", spec.Name, spec.Path, negotiated, info.APIVersions)
	}
	return nil
}

// Description is what `wadi plugin describe` shows of a plugin.
type Description struct {
	Info   base.Info
	Schema schema.Schema
}

// Describe starts the plugin, asks who it is and its schema, and stops it.
// An empty kind accepts any kind.
func Describe(ctx context.Context, spec Spec, kind base.Kind, log hclog.Logger) (Description, error) {
	inst, err := launch(ctx, spec, kind, log, defaultStartTimeout)
	if err != nil {
		return Description{}, err
	}
	defer inst.kill()
	sctx, cancel := context.WithTimeout(ctx, defaultStartTimeout)
	defer cancel()
	sch, err := inst.impl.Schema(sctx)
	if err != nil {
		return Description{}, fmt.Errorf("plugin %q: schema: %w", spec.Name, err)
	}
	if err := sch.Validate(); err != nil {
		return Description{}, fmt.Errorf("plugin %q declares an unusable schema: %w", spec.Name, err)
	}
	return Description{Info: inst.info, Schema: sch}, nil
}
