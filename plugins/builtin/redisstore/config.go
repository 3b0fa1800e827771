package redisstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wadi-go/wadi/sdk/schema"
)

// Defaults of the configuration block.
const (
	DefaultKeyPrefix = "wadi:session:"
	DefaultTimeout   = 5 * time.Second
)

// Schema describes the store's configuration block.
func Schema() schema.Schema {
	return schema.Schema{Attributes: []schema.Attribute{
		{Name: "address", Type: schema.String, Doc: `server as "host:port"; exactly one of address and url`},
		{Name: "url", Type: schema.String, Doc: "server as a redis:// or rediss:// URL; exactly one of address and url"},
		{Name: "username", Type: schema.String, Doc: "ACL user name (Redis 6 and later)"},
		{Name: "password", Type: schema.String, Doc: "password of the user, or of the server"},
		{Name: "database", Type: schema.Number, Default: "0", Doc: "database number to select"},
		{Name: "key_prefix", Type: schema.String, Default: strconv.Quote(DefaultKeyPrefix), Doc: "prefix of the store's keys; the prefix itself holds the expiry index"},
		{Name: "tls", Type: schema.Bool, Default: "false", Doc: "connect with TLS (implied by a rediss:// url)"},
		{Name: "tls_ca_file", Type: schema.String, Doc: "PEM file of the CAs to trust instead of the system's"},
		{Name: "tls_server_name", Type: schema.String, Doc: "name to verify the server's certificate against; default the host"},
		{Name: "timeout", Type: schema.String, Default: strconv.Quote(DefaultTimeout.String()), Doc: "bound on each call, connecting included"},
	}}
}

// config is the JSON form of the configuration block.
type config struct {
	Address       *string  `json:"address"`
	URL           *string  `json:"url"`
	Username      *string  `json:"username"`
	Password      *string  `json:"password"`
	Database      *float64 `json:"database"`
	KeyPrefix     *string  `json:"key_prefix"`
	TLS           *bool    `json:"tls"`
	TLSCAFile     *string  `json:"tls_ca_file"`
	TLSServerName *string  `json:"tls_server_name"`
	Timeout       *string  `json:"timeout"`
}

// settings are a validated configuration, comparable so that
// configuring a store again with the same block keeps its connections.
type settings struct {
	// Addr is the server's host:port; it names the server in errors.
	Addr          string
	Username      string
	Password      string
	DB            int
	KeyPrefix     string
	TLS           bool
	TLSCAFile     string
	TLSServerName string
	Timeout       time.Duration
}

// parseConfig validates a configuration block (JSON, as the host hands it
// over; empty means all defaults, which lacks a server and is an error). It
// reads tls_ca_file, so that a bad file is a configuration error, but does
// not reach the server: a node must be able to start while its store is
// down.
func parseConfig(cfgJSON []byte) (settings, *redis.Options, error) {
	var cfg config
	if err := schema.Decode(cfgJSON, &cfg); err != nil {
		return settings{}, nil, fmt.Errorf("redisstore: %w", err)
	}
	s, err := cfg.validate()
	if err != nil {
		return settings{}, nil, fmt.Errorf("redisstore: config: %w", err)
	}
	opts, err := s.options()
	if err != nil {
		return settings{}, nil, fmt.Errorf("redisstore: config: %w", err)
	}
	return s, opts, nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (c config) validate() (settings, error) {
	s := settings{
		Username:      str(c.Username),
		Password:      str(c.Password),
		KeyPrefix:     DefaultKeyPrefix,
		TLS:           c.TLS != nil && *c.TLS,
		TLSCAFile:     str(c.TLSCAFile),
		TLSServerName: str(c.TLSServerName),
		Timeout:       DefaultTimeout,
	}
	switch {
	case c.Address != nil && c.URL != nil:
		return settings{}, errors.New("address and url are both set; set exactly one")
	case c.Address == nil && c.URL == nil:
		return settings{}, errors.New("neither address nor url is set; set exactly one")
	case c.Address != nil:
		if err := checkAddress(*c.Address); err != nil {
			return settings{}, err
		}
		s.Addr = *c.Address
	default:
		if err := s.applyURL(*c.URL); err != nil {
			return settings{}, err
		}
	}
	if c.Database != nil {
		db := *c.Database
		if db < 0 || db != math.Trunc(db) || db > math.MaxInt32 {
			return settings{}, fmt.Errorf("database %v is not a database number (a whole number, 0 or more)", db)
		}
		if s.DB != 0 && int(db) != 0 && int(db) != s.DB {
			return settings{}, fmt.Errorf("database %d contradicts the url's database %d", int(db), s.DB)
		}
		if int(db) != 0 {
			s.DB = int(db)
		}
	}
	if c.KeyPrefix != nil {
		if *c.KeyPrefix == "" {
			return settings{}, errors.New("key_prefix is empty; the store's keys must be told apart from others")
		}
		s.KeyPrefix = *c.KeyPrefix
	}
	if !s.TLS && (s.TLSCAFile != "" || s.TLSServerName != "") {
		return settings{}, errors.New("tls_ca_file and tls_server_name need tls = true or a rediss:// url")
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

func checkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q is not host:port: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q: port %q is not a number from 1 to 65535", addr, port)
	}
	return nil
}

// applyURL takes the server, credentials, database and TLS from a URL.
// Credentials in the URL and in username/password are a contradiction; a
// URL's errors never repeat the URL, which may hold a password.
func (s *settings) applyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("url is not a URL: %v", err)
	}
	switch u.Scheme {
	case "redis":
	case "rediss":
		s.TLS = true
	default:
		return fmt.Errorf("url has scheme %q; want redis:// or rediss://", u.Scheme)
	}
	if u.RawQuery != "" {
		// go-redis would take timeouts and pool sizes from it, behind the
		// schema's back.
		return errors.New("url has query parameters; set the store's attributes instead")
	}
	opts, err := redis.ParseURL(u.Redacted())
	if err != nil {
		return fmt.Errorf("url: %v", err)
	}
	if err := checkAddress(opts.Addr); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	s.Addr, s.DB = opts.Addr, opts.DB
	if u.User != nil {
		if s.Username != "" || s.Password != "" {
			return errors.New("url has credentials, and username or password is set too; set them in one place")
		}
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	return nil
}

// options builds the client's options. Every wait is bounded by Timeout,
// and a call fails after one quick retry, so that a call to a server that is
// down fails promptly and the host retries it later.
func (s settings) options() (*redis.Options, error) {
	opts := &redis.Options{
		Addr:     s.Addr,
		Username: s.Username,
		Password: s.Password,
		DB:       s.DB,
		// RESP2 needs no HELLO round trip and speaks to any server version;
		// the store uses nothing of RESP3.
		Protocol:              2,
		DisableIdentity:       true,
		DialTimeout:           s.Timeout,
		DialerRetries:         1,
		ReadTimeout:           s.Timeout,
		WriteTimeout:          s.Timeout,
		PoolTimeout:           s.Timeout,
		ContextTimeoutEnabled: true,
		// One retry replaces a pooled connection the server closed (it
		// restarted); more would only delay the error of an outage.
		MaxRetries:      1,
		MinRetryBackoff: 10 * time.Millisecond,
		MaxRetryBackoff: 100 * time.Millisecond,
	}
	if s.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.TLSServerName}
		if tc.ServerName == "" {
			host, _, _ := net.SplitHostPort(s.Addr) // checked by settings
			tc.ServerName = host
		}
		if s.TLSCAFile != "" {
			pem, err := os.ReadFile(s.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("tls_ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls_ca_file %s holds no PEM certificate", s.TLSCAFile)
			}
			tc.RootCAs = pool
		}
		opts.TLSConfig = tc
	}
	return opts, nil
}
