package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// `wadi members` shows each member's meta as k=v pairs in key order, and
// -json passes it through.
func TestMembersCmd(t *testing.T) {
	members := []memberView{
		{Name: "red", State: "alive", Peer: "10.0.0.1:7950", HTTP: "http://10.0.0.1:8080", Zone: "z1",
			Meta: map[string]string{"rack": "r1", "dc": "eu-1"}, Sessions: 3, Backups: 1, Table: "2@red"},
		{Name: "green", State: "alive", Peer: "10.0.0.2:7950", HTTP: "http://10.0.0.2:8080", Sessions: 0, Table: "2@red"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, members)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	// lines are the output's lines with runs of blanks as one.
	lines := func(out string) string {
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			got = append(got, strings.Join(strings.Fields(l), " "))
		}
		return strings.Join(got, "\n")
	}
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{"table", nil, func(t *testing.T, out string) {
			want := strings.Join([]string{
				"NAME STATE PEER HTTP ZONE SESSIONS BACKUPS TABLE META",
				"red alive 10.0.0.1:7950 http://10.0.0.1:8080 z1 3 1 2@red dc=eu-1,rack=r1",
				"green alive 10.0.0.2:7950 http://10.0.0.2:8080 0 0 2@red",
			}, "\n")
			if got := lines(out); got != want {
				t.Errorf("output:\n%s\nwant:\n%s", got, want)
			}
		}},
		{"json", []string{"-json"}, func(t *testing.T, out string) {
			var back []memberView
			if err := json.Unmarshal([]byte(out), &back); err != nil {
				t.Fatal(err)
			}
			if len(back) != 2 || back[0].Meta["rack"] != "r1" || back[0].Meta["dc"] != "eu-1" || back[1].Meta != nil {
				t.Errorf("-json gave %+v", back)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := membersCmd(append([]string{"-admin", addr}, tt.args...), &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			tt.check(t, stdout.String())
		})
	}
}
