package store_test

import (
	"testing"

	"github.com/wadi-go/wadi/sdk/store"
)

func TestLogID(t *testing.T) {
	tests := []struct{ id, want string }{
		{"", ""},
		{"abc", "abc"},
		{"12345678", "12345678"},
		{"123456789", "12345678…"},
		{"Kq3vX9bLmN2pR7sT4wY6zA8cE1fH5jU0oI-dG_xVb", "Kq3vX9bL…"},
	}
	for _, tt := range tests {
		if got := store.LogID(tt.id); got != tt.want {
			t.Errorf("LogID(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}
