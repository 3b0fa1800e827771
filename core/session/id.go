package session

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// idBytes is the entropy of a session id: 256 bits, twice the 128 the OWASP
// guidance asks for, so ids cannot be guessed even across a large farm.
const idBytes = 32

// idLen is the length of a session id as it appears in cookies and records:
// base64.RawURLEncoding.EncodedLen(idBytes).
const idLen = 43

// newID returns a fresh session id from crypto/rand, URL- and cookie-safe.
func newID() (string, error) {
	var b [idBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session: generating id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ValidID reports whether s has the shape of an id this package issues. It is
// a cheap filter for untrusted input: a valid shape says nothing about whether
// the session exists.
func ValidID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
