package upstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wadi-go/wadi/core/session"
)

// TestAPIRefuses checks that every call the API must refuse gets a JSON
// error with the right status and code, and leaves the session as it was.
func TestAPIRefuses(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	r := newRig(t, rigOptions{token: token, maxAttr: 1 << 10})
	cookie, id := r.newSession()
	none, wrong, notBearer := "", "Bearer "+strings.Repeat("x", len(token)), token
	big := `"` + strings.Repeat("a", 2*4<<10+64<<10+10) + `"`
	tests := []struct {
		name         string
		inRequest    bool // made by the application while a request holds the session
		method, path string
		body         string
		auth         *string
		reqToken     string // for calls outside a request
		status       int
		code         string
	}{
		{"no token", false, "GET", "/v1/sessions/{id}", "", &none, "", 401, "unauthorized"},
		{"wrong token", false, "GET", "/v1/sessions/{id}", "", &wrong, "", 401, "unauthorized"},
		{"token not bearer", false, "GET", "/v1/sessions/{id}", "", &notBearer, "", 401, "unauthorized"},
		{"wrong token, in a request", true, "PUT", "/v1/sessions/{id}/attributes/count", `"9"`, &wrong, "", 401, "unauthorized"},
		{"unheld read", false, "GET", "/v1/sessions/{id}", "", nil, "", 409, "not_held"},
		{"unheld write", false, "PUT", "/v1/sessions/{id}/attributes/count", `"9"`, nil, "", 409, "not_held"},
		{"unheld invalidate", false, "DELETE", "/v1/sessions/{id}", "", nil, "", 409, "not_held"},
		{"unknown request token", false, "PUT", "/v1/sessions/current/attributes/count", `"9"`, nil, "nosuchrequest", 409, "not_held"},
		{"create without request", false, "POST", "/v1/sessions", "", nil, "", 400, "bad_request"},
		{"current without request", false, "GET", "/v1/sessions/current", "", nil, "", 400, "bad_request"},
		{"bad id", false, "GET", "/v1/sessions/..%2f..", "", nil, "", 400, "bad_request"},
		{"other session", true, "PUT", "/v1/sessions/" + strings.Repeat("A", len(id)) + "/attributes/count", `"9"`, nil, "", 409, "not_held"},
		{"bad JSON", true, "PUT", "/v1/sessions/{id}/attributes/count", `{"value":`, nil, "", 400, "bad_json"},
		{"number value", true, "PUT", "/v1/sessions/{id}/attributes/count", `9`, nil, "", 400, "bad_json"},
		{"two values", true, "PUT", "/v1/sessions/{id}/attributes/count", `"9" "10"`, nil, "", 400, "bad_json"},
		{"empty body", true, "PUT", "/v1/sessions/{id}/attributes/count", ``, nil, "", 400, "bad_json"},
		{"bad base64", true, "PUT", "/v1/sessions/{id}/attributes/count", `{"value":"!!","encoding":"base64"}`, nil, "", 400, "bad_json"},
		{"unknown encoding", true, "PUT", "/v1/sessions/{id}/attributes/count", `{"value":"9","encoding":"hex"}`, nil, "", 400, "bad_json"},
		{"unknown batch field", true, "PATCH", "/v1/sessions/{id}/attributes", `{"put":{"count":"9"}}`, nil, "", 400, "bad_json"},
		{"empty name in batch", true, "PATCH", "/v1/sessions/{id}/attributes", `{"set":{"":"9"}}`, nil, "", 400, "bad_request"},
		{"oversized body", true, "PUT", "/v1/sessions/{id}/attributes/count", big, nil, "", 413, "too_large"},
		{"attribute over the limit", true, "PUT", "/v1/sessions/{id}/attributes/count", `"` + strings.Repeat("a", 2<<10) + `"`, nil, "", 413, "too_large"},
		// All or nothing: the small attribute is not set either.
		{"batch over the session limit", true, "PATCH", "/v1/sessions/{id}/attributes",
			`{"set":{"a":"` + strings.Repeat("a", 1000) + `","b":"` + strings.Repeat("b", 1000) + `","c":"` + strings.Repeat("c", 1000) + `","d":"` + strings.Repeat("d", 1000) + `","e":"` + strings.Repeat("e", 1000) + `","f":"x"}}`, nil, "", 413, "too_large"},
		{"wrong method", true, "POST", "/v1/sessions/{id}", "", nil, "", 405, "method_not_allowed"},
		{"no such endpoint", true, "GET", "/v2/things", "", nil, "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v0, a0 := r.snapshot(id)
			path := strings.ReplaceAll(tt.path, "{id}", id)
			var got answer
			if tt.inRequest {
				r.setApp(func(w http.ResponseWriter, req *http.Request) {
					got = r.call(tt.method, path, req.Header.Get(RequestHeader), tt.body, tt.auth)
				})
				if resp, body := r.get("GET", "/", cookie, nil); resp.StatusCode != 200 {
					t.Fatalf("front: %s %s", resp.Status, body)
				}
			} else {
				got = r.call(tt.method, path, tt.reqToken, tt.body, tt.auth)
			}
			if got.Status != tt.status || got.code() != tt.code {
				t.Errorf("got %d %q (%.300s), want %d %q", got.Status, got.code(), got.Raw, tt.status, tt.code)
			}
			if msg, _ := got.Body["error"].(string); msg == "" {
				t.Errorf("no error message: %s", got.Raw)
			}
			if strings.Contains(got.Raw, token) {
				t.Errorf("the token is in the answer")
			}
			v1, a1 := r.snapshot(id)
			if v1 != v0 || len(a1) != len(a0) || !bytes.Equal(a1["count"], a0["count"]) {
				t.Errorf("the session changed: version %d -> %d, attributes %q -> %q", v0, v1, a0, a1)
			}
		})
	}
}

// TestAPIFlow drives every endpoint from inside requests: create, set one,
// batch, read, renew (the response carries the new cookie), remove,
// invalidate; and checks that replication saw only changed attributes.
func TestAPIFlow(t *testing.T) {
	r := newRig(t, rigOptions{})
	var views []answer
	step := func(calls func(tok, id string)) {
		r.setApp(func(w http.ResponseWriter, req *http.Request) {
			calls(req.Header.Get(RequestHeader), req.Header.Get(SessionHeader))
			w.Write([]byte("ok"))
		})
	}
	want := func(a answer, status int) answer {
		t.Helper()
		if a.Status != status {
			t.Fatalf("got %d %s, want %d", a.Status, a.Raw, status)
		}
		views = append(views, a)
		return a
	}
	// 1: a request without a session creates one and sets attributes.
	step(func(tok, id string) {
		if id != "" {
			t.Errorf("a new client came with session %q", id)
		}
		want(r.call("POST", "/v1/sessions", tok, "", nil), 201)
		want(r.call("POST", "/v1/sessions", tok, "", nil), 200) // it has one now
		want(r.call("PUT", "/v1/sessions/current/attributes/count", tok, `"1"`, nil), 200)
		want(r.call("PUT", "/v1/sessions/current/attributes/blob", tok, `{"value":"/wA=","encoding":"base64"}`, nil), 200)
	})
	resp, _ := r.get("GET", "/", nil, nil)
	cookie := sessionCookie(resp)
	if cookie == nil {
		t.Fatal("no cookie for the new session")
	}
	id := views[0].Body["id"].(string)
	if !strings.HasPrefix(cookie.Value, id) {
		t.Fatalf("cookie %q is not session %q", cookie.Value, id)
	}
	last := views[len(views)-1].Body
	if last["attributes"].(map[string]any)["blob"] != "/wA=" || last["base64"].([]any)[0] != "blob" || last["version"].(float64) != 2 {
		t.Fatalf("view: %v", last)
	}
	before := len(r.repl.sent())

	// 2: batch by id (the request's session), then renew.
	var renewed string
	step(func(tok, sid string) {
		if sid != id {
			t.Errorf("Wadi-Session %q, want %q", sid, id)
		}
		a := want(r.call("PATCH", "/v1/sessions/"+id+"/attributes", tok, `{"set":{"user":"ann","count":"2"},"remove":["blob","nothing"]}`, nil), 200)
		if attrs := a.Body["attributes"].(map[string]any); len(attrs) != 2 || attrs["user"] != "ann" || attrs["count"] != "2" {
			t.Errorf("after the batch: %v", attrs)
		}
		a = want(r.call("POST", "/v1/sessions/current/renew", tok, "", nil), 200)
		renewed = a.Body["id"].(string)
		// By id without the token: the registry knows the new id.
		want(r.call("GET", "/v1/sessions/"+renewed, "", "", nil), 200)
		if a := r.call("GET", "/v1/sessions/"+id, "", "", nil); a.Status != 409 {
			t.Errorf("old id after renew: %d %s", a.Status, a.Raw)
		}
	})
	resp, _ = r.get("GET", "/", cookie, nil)
	nc := sessionCookie(resp)
	if renewed == "" || renewed == id || nc == nil || !strings.HasPrefix(nc.Value, renewed) {
		t.Fatalf("renewed to %q; the response's cookie is %v", renewed, nc)
	}
	if _, _, err := r.mgr.Hold(context.Background(), id); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("the old id still finds a session: %v", err)
	}
	// Replication carried the changed attributes only, as deltas.
	for _, it := range r.repl.sent()[before:] {
		if it.Kind == session.ReplicaDelta && bytes.Contains(it.Data, []byte("blob")) && bytes.Contains(it.Data, []byte{0xff, 0x00}) {
			t.Errorf("a delta carried the removed attribute's value")
		}
	}

	// 3: remove one, then invalidate; the client is told to forget the id.
	step(func(tok, sid string) {
		if sid != renewed {
			t.Errorf("Wadi-Session %q, want %q", sid, renewed)
		}
		a := want(r.call("DELETE", "/v1/sessions/current/attributes/user", tok, "", nil), 200)
		if _, ok := a.Body["attributes"].(map[string]any)["user"]; ok {
			t.Errorf("user not removed: %v", a.Body)
		}
		want(r.call("DELETE", "/v1/sessions/"+sid, tok, "", nil), 200)
		if a := r.call("GET", "/v1/sessions/current", tok, "", nil); a.Status != 404 || a.code() != "no_session" {
			t.Errorf("after invalidate: %d %s", a.Status, a.Raw)
		}
	})
	resp, _ = r.get("GET", "/", nc, nil)
	if c := sessionCookie(resp); c == nil || c.MaxAge >= 0 {
		t.Fatalf("after invalidation the cookie is %v, want it deleted", c)
	}
	if r.reg.Len() != 0 {
		t.Fatalf("%d requests still registered", r.reg.Len())
	}
}

// TestAPIUnheld: with allow_unheld a call holds the session itself; a
// renew still needs a request to carry the cookie.
func TestAPIUnheld(t *testing.T) {
	r := newRig(t, rigOptions{allowUnheld: true})
	_, id := r.newSession()
	if a := r.call("PUT", "/v1/sessions/"+id+"/attributes/job", "", `"done"`, nil); a.Status != 200 {
		t.Fatalf("unheld put: %d %s", a.Status, a.Raw)
	}
	if _, attrs := r.snapshot(id); string(attrs["job"]) != "done" {
		t.Fatalf("attributes: %q", attrs)
	}
	if a := r.call("POST", "/v1/sessions/"+id+"/renew", "", "", nil); a.Status != 409 {
		t.Fatalf("unheld renew: %d %s", a.Status, a.Raw)
	}
	if a := r.call("GET", "/v1/sessions/"+strings.Repeat("A", len(id)), "", "", nil); a.Status != 404 || a.code() != "not_found" {
		t.Fatalf("unknown session: %d %s", a.Status, a.Raw)
	}
	if a := r.call("DELETE", "/v1/sessions/"+id, "", "", nil); a.Status != 200 {
		t.Fatalf("unheld invalidate: %d %s", a.Status, a.Raw)
	}
	if _, _, err := r.mgr.Hold(context.Background(), id); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("invalidated session still there: %v", err)
	}
}

// TestAPIAfterResponse: once the upstream's headers are on their way, a
// session can no longer be created or renewed (the cookie is out), but
// attributes can still change.
func TestAPIAfterResponse(t *testing.T) {
	r := newRig(t, rigOptions{})
	cookie, _ := r.newSession()
	for _, tt := range []struct {
		name   string
		cookie *http.Cookie
		method string
		path   string
		body   string
		status int
		code   string
	}{
		{"create", nil, "POST", "/v1/sessions", "", 409, "response_started"},
		{"renew", cookie, "POST", "/v1/sessions/current/renew", "", 409, "response_started"},
		{"put", cookie, "PUT", "/v1/sessions/current/attributes/late", `"yes"`, 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			headersOut := make(chan struct{})
			result := make(chan answer, 1)
			r.setApp(func(w http.ResponseWriter, req *http.Request) {
				tok := req.Header.Get(RequestHeader)
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				<-headersOut
				result <- r.call(tt.method, tt.path, tok, tt.body, nil)
			})
			req, _ := http.NewRequest("GET", r.front.URL+"/", nil)
			if tt.cookie != nil {
				req.AddCookie(tt.cookie)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			close(headersOut)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			a := <-result
			if a.Status != tt.status || a.code() != tt.code {
				t.Fatalf("got %d %s, want %d %q", a.Status, a.Raw, tt.status, tt.code)
			}
		})
	}
}
