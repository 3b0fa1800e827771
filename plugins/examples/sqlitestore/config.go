package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/wadi-go/wadi/sdk/schema"
)

// Defaults of the configuration block, as the schema declares them.
const (
	defaultPath        = "sessions.sqlite"
	defaultBusyTimeout = 5 * time.Second
	// maxBusyTimeout bounds busy_timeout: a write that waits longer than this
	// for a lock is stuck, and the host's own deadlines end it well before.
	maxBusyTimeout = time.Hour
)

// configSchema is the schema of the store's block in wadi.hcl.
func configSchema() schema.Schema {
	return schema.Schema{Attributes: []schema.Attribute{
		{
			Name:    "path",
			Type:    schema.String,
			Default: `"` + defaultPath + `"`,
			Doc:     "SQLite database file, relative to the node's data_dir",
		},
		{
			Name:    "busy_timeout",
			Type:    schema.String,
			Default: `"` + defaultBusyTimeout.String() + `"`,
			Doc:     "how long a write waits for another connection's lock (a duration: 500ms, 5s)",
		},
	}}
}

// config is the JSON form of the block. Pointers tell an attribute the host
// sent as null from one it set.
type config struct {
	Path        *string `json:"path"`
	BusyTimeout *string `json:"busy_timeout"`
}

// settings are a validated configuration: an absolute file and a timeout.
type settings struct {
	path        string
	busyTimeout time.Duration
}

// parseConfig validates a block and resolves its path against dataDir. It
// opens nothing, so that a bad block is refused before the open store is
// touched.
func parseConfig(raw []byte, dataDir string) (settings, error) {
	var cfg config
	if err := schema.Decode(raw, &cfg); err != nil {
		return settings{}, err
	}
	s := settings{path: defaultPath, busyTimeout: defaultBusyTimeout}
	if cfg.Path != nil {
		if *cfg.Path == "" {
			return settings{}, errors.New("config: path is empty")
		}
		s.path = *cfg.Path
	}
	if !filepath.IsAbs(s.path) {
		s.path = filepath.Join(dataDir, s.path)
	}
	// Absolute, so that the file does not depend on the plugin's working
	// directory and two spellings of one file compare equal.
	abs, err := filepath.Abs(s.path)
	if err != nil {
		return settings{}, fmt.Errorf("config: path %q: %w", s.path, err)
	}
	s.path = abs
	if cfg.BusyTimeout != nil {
		d, err := time.ParseDuration(*cfg.BusyTimeout)
		if err != nil {
			return settings{}, fmt.Errorf("config: busy_timeout: %w", err)
		}
		if d < 0 || d > maxBusyTimeout {
			return settings{}, fmt.Errorf("config: busy_timeout %s: want 0 to %s", d, maxBusyTimeout)
		}
		s.busyTimeout = d
	}
	return s, nil
}
