package demo

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/plugins/builtin/memstore"
)

func TestDemo(t *testing.T) {
	opts := session.DefaultOptions()
	opts.Store = memstore.New()
	m, err := session.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	srv := httptest.NewServer(m.Middleware(New("red", hclog.NewNullLogger()).Handler()))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}

	for want := 1; want <= 3; want++ {
		resp, err := c.Post(srv.URL+"/api/incr", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Node  string
			Count int
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || got.Node != "red" || got.Count != want {
			t.Fatalf("incr %d: %+v, %v", want, got, err)
		}
	}
	// The form button counts too, then shows the page.
	resp, err := c.Post(srv.URL+"/incr", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if !strings.Contains(page, "<td>count</td><td>4</td>") || !strings.Contains(page, `<strong id="node">red</strong>`) {
		t.Fatalf("page after the button:\n%s", page)
	}

	resp, err = c.Get(srv.URL + "/api/session")
	if err != nil {
		t.Fatal(err)
	}
	var v view
	err = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if err != nil || v.Node != "red" || !session.ValidID(v.ID) || v.Attributes["count"] != "4" {
		t.Fatalf("session: %+v, %v", v, err)
	}
	// Logging out ends the session: the next request starts a new one.
	resp, err = c.Post(srv.URL+"/api/logout", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %v, %v", resp, err)
	}
	resp.Body.Close()
	if n := m.Len(); n != 0 {
		t.Fatalf("%d sessions after logout, want 0", n)
	}
	resp, err = c.Get(srv.URL + "/api/session")
	if err != nil {
		t.Fatal(err)
	}
	var after view
	err = json.NewDecoder(resp.Body).Decode(&after)
	resp.Body.Close()
	if err != nil || after.ID == v.ID || len(after.Attributes) != 0 {
		t.Fatalf("after logout: %+v, %v (old id %s)", after, err, v.ID)
	}
	// Logging out with no session is done already, not a failure.
	resp, err = http.Post(srv.URL+"/api/logout", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout without a session: %v, %v", resp, err)
	}
	resp.Body.Close()
	if resp, _ := c.Get(srv.URL + "/nope"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
}
