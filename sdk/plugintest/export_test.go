package plugintest

import "time"

// SetPromptly sets how long the kits wait for a call that must not hang, so
// that the kit's own tests of hanging plugins stay fast. It returns the
// previous value.
func SetPromptly(d time.Duration) time.Duration {
	old := promptly
	promptly = d
	return old
}
