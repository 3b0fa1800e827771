package session

import (
	"context"
	"slices"
	"testing"
)

func TestAttributes(t *testing.T) {
	h := newHarness(t, nil)
	s, err := h.m.create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer h.m.unlockRequest(s)
	v := s.Version()
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if nv := s.Version(); nv <= v {
			t.Fatalf("%s did not bump the version (%d -> %d)", what, v, nv)
		} else {
			v = nv
		}
	}
	step("PutString", s.PutString("name", "ada"))
	step("PutInt", s.PutInt("n", -42))
	step("PutBool", s.PutBool("ok", true))
	step("PutJSON", s.PutJSON("cart", map[string]int{"apples": 3}))
	raw := []byte{1, 2}
	step("Put", s.Put("raw", raw))
	raw[0] = 9 // the session keeps its own copy

	if got := s.GetString("name"); got != "ada" {
		t.Errorf("GetString = %q", got)
	}
	if n, err := s.GetInt("n"); n != -42 || err != nil {
		t.Errorf("GetInt = %d, %v", n, err)
	}
	if b, err := s.GetBool("ok"); !b || err != nil {
		t.Errorf("GetBool = %v, %v", b, err)
	}
	var cart map[string]int
	if ok, err := s.GetJSON("cart", &cart); !ok || err != nil || cart["apples"] != 3 {
		t.Errorf("GetJSON = %v, %v, %v", ok, err, cart)
	}
	if got, ok := s.Get("raw"); !ok || got[0] != 1 {
		t.Errorf("Get = %v, %v", got, ok)
	}
	if _, err := s.GetInt("name"); err == nil {
		t.Error("GetInt of a string is not an error")
	}
	if _, err := s.GetBool("name"); err == nil {
		t.Error("GetBool of a string is not an error")
	}
	if n, err := s.GetInt("absent"); n != 0 || err != nil {
		t.Errorf("GetInt of an absent attribute = %d, %v", n, err)
	}
	if ok, err := s.GetJSON("absent", &cart); ok || err != nil {
		t.Errorf("GetJSON of an absent attribute = %v, %v", ok, err)
	}
	if got := s.Keys(); !slices.Equal(got, []string{"cart", "n", "name", "ok", "raw"}) {
		t.Errorf("Keys = %v", got)
	}
	if got := s.PopString("name"); got != "ada" || s.Has("name") {
		t.Errorf("PopString = %q, still there: %v", got, s.Has("name"))
	}
	v = s.Version()
	if err := s.Remove("absent"); err != nil || s.Version() != v {
		t.Error("removing an absent attribute changed the session")
	}
	step("Remove", s.Remove("ok"))
	step("Clear", s.Clear())
	if s.Len() != 0 || s.size != 0 {
		t.Errorf("after Clear: %d attributes, size %d", s.Len(), s.size)
	}
	if err := s.PutJSON("bad", func() {}); err == nil {
		t.Error("PutJSON of a func is not an error")
	}
}
