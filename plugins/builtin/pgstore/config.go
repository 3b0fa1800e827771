package pgstore

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wadi-go/wadi/sdk/schema"
)

// Defaults of the configuration block.
const (
	DefaultTable    = "wadi_sessions"
	DefaultMaxConns = 4
	DefaultTimeout  = 5 * time.Second
)

// maxTableLen leaves room, within PostgreSQL's 63-byte identifiers, for the
// names derived from the table's (its index).
const maxTableLen = 48

// maxMaxConns bounds max_conns to what one node can sensibly hold open.
const maxMaxConns = 1000

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Schema describes the store's configuration block.
func Schema() schema.Schema {
	return schema.Schema{Attributes: []schema.Attribute{
		{Name: "dsn", Type: schema.String, Required: true, Doc: "connection string: a postgres:// URL or key=value pairs"},
		{Name: "table", Type: schema.String, Default: strconv.Quote(DefaultTable), Doc: "table of the records, created if missing"},
		{Name: "max_conns", Type: schema.Number, Default: strconv.Itoa(DefaultMaxConns), Doc: "connections the node keeps at most"},
		{Name: "timeout", Type: schema.String, Default: strconv.Quote(DefaultTimeout.String()), Doc: "bound on each call, connecting included"},
	}}
}

// config is the JSON form of the configuration block.
type config struct {
	DSN      *string  `json:"dsn"`
	Table    *string  `json:"table"`
	MaxConns *float64 `json:"max_conns"`
	Timeout  *string  `json:"timeout"`
}

// settings are a validated configuration, comparable so that configuring a
// store again with the same block keeps its pool.
type settings struct {
	DSN      string
	Table    string
	MaxConns int32
	Timeout  time.Duration
}

// parseConfig validates a configuration block (JSON, as the host hands it
// over) and builds the pool's configuration. It does not reach the server:
// a node must be able to start while its store is down.
func parseConfig(cfgJSON []byte) (settings, *pgxpool.Config, error) {
	var cfg config
	if err := schema.Decode(cfgJSON, &cfg); err != nil {
		return settings{}, nil, fmt.Errorf("pgstore: %w", err)
	}
	s, err := cfg.validate()
	if err != nil {
		return settings{}, nil, fmt.Errorf("pgstore: config: %w", err)
	}
	// pgx redacts the password from its parse errors.
	pc, err := pgxpool.ParseConfig(s.DSN)
	if err != nil {
		return settings{}, nil, fmt.Errorf("pgstore: config: dsn: %w", err)
	}
	// max_conns wins over a pool_max_conns in the DSN: the schema says what
	// the node does.
	pc.MaxConns, pc.MinConns, pc.MinIdleConns = s.MaxConns, 0, 0
	pc.ConnConfig.ConnectTimeout = s.Timeout
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "wadi"
	}
	return s, pc, nil
}

func (c config) validate() (settings, error) {
	s := settings{Table: DefaultTable, MaxConns: DefaultMaxConns, Timeout: DefaultTimeout}
	if c.DSN == nil || *c.DSN == "" {
		return settings{}, errors.New("dsn is required")
	}
	s.DSN = *c.DSN
	if c.Table != nil {
		t := *c.Table
		switch {
		case !identifier.MatchString(t):
			return settings{}, fmt.Errorf("table %q is not an identifier (letters, digits and _, not starting with a digit)", t)
		case len(t) > maxTableLen:
			return settings{}, fmt.Errorf("table %q is longer than %d bytes", t, maxTableLen)
		case t == versionsTable:
			return settings{}, fmt.Errorf("table %q is the store's own table of schema versions", t)
		}
		s.Table = t
	}
	if c.MaxConns != nil {
		n := *c.MaxConns
		if n < 1 || n > maxMaxConns || n != math.Trunc(n) {
			return settings{}, fmt.Errorf("max_conns %v is not a whole number from 1 to %d", n, maxMaxConns)
		}
		s.MaxConns = int32(n)
	}
	if c.Timeout != nil {
		d, err := time.ParseDuration(*c.Timeout)
		if err != nil {
			return settings{}, fmt.Errorf("timeout: %w", err)
		}
		if d <= 0 {
			return settings{}, fmt.Errorf("timeout %v is not positive", d)
		}
		s.Timeout = d
	}
	return s, nil
}
