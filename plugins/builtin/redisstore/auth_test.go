package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wadi-go/wadi/internal/testservers"
	"github.com/wadi-go/wadi/sdk/store"
)

// TestTLSAuthDatabase runs the store against a real redis-server that speaks
// TLS only, with a password and an ACL user: what the schema offers reaches
// the server, and what the server refuses fails with an error that says why
// and where, without the password.
func TestTLSAuthDatabase(t *testing.T) {
	ctx := context.Background()
	const password = "s3cret-pw"
	certs := testservers.NewRedisTLS(t, "redis.test")
	r := testservers.NewRedisWith(t, testservers.RedisOptions{
		Password: password,
		Users:    map[string]string{"alice": "alice-pw"},
		TLS:      certs,
	})
	// A CA of its own, which did not sign the server's certificate.
	otherCA := testservers.NewRedisTLS(t, "redis.test").CAFile
	base := map[string]any{
		"address": r.Addr, "password": password, "tls": true,
		"tls_ca_file": certs.CAFile, "tls_server_name": "redis.test", "timeout": "2s",
	}
	with := func(set map[string]any) map[string]any {
		all := map[string]any{}
		for k, v := range base {
			all[k] = v
		}
		for k, v := range set {
			all[k] = v
		}
		return all
	}
	tests := []struct {
		name    string
		set     map[string]any
		wantErr string // "" for success
	}{
		{"tls, password, database 3", with(map[string]any{"database": 3}), ""},
		{"rediss url", with(map[string]any{"address": nil, "password": nil, "tls": false,
			"url": "rediss://:" + password + "@" + r.Addr + "/5"}), ""},
		{"acl user", with(map[string]any{"username": "alice", "password": "alice-pw"}), ""},
		{"wrong password", with(map[string]any{"password": "nope"}), "WRONGPASS"},
		{"unknown user", with(map[string]any{"username": "bob"}), "WRONGPASS"},
		{"no password", with(map[string]any{"password": nil}), "NOAUTH"},
		{"untrusted CA", with(map[string]any{"tls_ca_file": otherCA}), "certificate signed by unknown authority"},
		{"system CAs", with(map[string]any{"tls_ca_file": nil}), "certificate signed by unknown authority"},
		{"wrong server name", with(map[string]any{"tls_server_name": "other.test"}), "not other.test"},
		{"no tls", with(map[string]any{"tls": false, "tls_ca_file": nil, "tls_server_name": nil}), r.Addr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := FromConfig(blockJSON(t, tt.set))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rec := store.Record{ID: "rec", Expires: time.Now().Add(time.Hour), Data: []byte(tt.name)}
			err = s.Save(ctx, []store.Record{rec})
			if err == nil {
				var got store.Record
				got, err = s.Load(ctx, rec.ID)
				if err == nil && string(got.Data) != tt.name {
					t.Errorf("Load = %q, want %q", got.Data, tt.name)
				}
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Save and Load: %v", err)
			case tt.wantErr == "":
				return
			case err == nil:
				t.Fatalf("Save and Load succeeded; want an error mentioning %q", tt.wantErr)
			case !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), r.Addr):
				t.Errorf("error %q; want one mentioning %q and the server %s", err, tt.wantErr, r.Addr)
			}
			t.Logf("error: %v", err)
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q repeats the password", err)
			}
		})
	}

	// Two databases of one server keep records of the same key apart.
	open := func(db int) *Store {
		t.Helper()
		s, err := FromConfig(blockJSON(t, with(map[string]any{"database": db})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	db7, db8 := open(7), open(8)
	rec := store.Record{ID: "shared", Expires: time.Now().Add(time.Hour), Data: []byte("in 7")}
	if err := db7.Save(ctx, []store.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if got, err := db8.Load(ctx, rec.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("database 8 sees database 7's record: %q, %v", got.Data, err)
	}
	if ids, err := db8.DeleteExpired(ctx, time.Now().Add(2*time.Hour), 10); err != nil || len(ids) != 0 {
		t.Errorf("database 8's sweep removed %q (%v) of database 7", ids, err)
	}
	if err := db8.Save(ctx, []store.Record{{ID: rec.ID, Expires: rec.Expires, Data: []byte("in 8")}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    *Store
		want string
	}{{db7, "in 7"}, {db8, "in 8"}} {
		if got, err := c.s.Load(ctx, rec.ID); err != nil || string(got.Data) != c.want {
			t.Errorf("Load = %q, %v; want %q", got.Data, err, c.want)
		}
	}
}
