// Command sealcodec is a WADI codec plugin that encrypts and authenticates
// sessions with XChaCha20-Poly1305 under a ring of keys: one key seals, all
// of them open, so keys can be rotated without losing what was sealed
// before.
//
// It is an example of a plugin written outside the host: it imports only
// the SDK. The host starts it; run by hand it says so and exits.
package main

import "github.com/wadi-go/wadi/sdk"

func main() { sdk.Serve(New()) }
