// Command zonereplicator is a WADI replicator plugin that keeps each
// partition's backups out of its primary's zone, so that losing a zone (a
// rack, a data centre) loses no session.
//
// It is an example of a plugin written outside the host: it imports only
// the SDK. The host starts it; run by hand it says so and exits.
package main

import "github.com/wadi-go/wadi/sdk"

func main() { sdk.Serve(New()) }
