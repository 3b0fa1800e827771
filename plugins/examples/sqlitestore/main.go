// Command sqlitestore is a WADI store plugin that keeps sessions in one
// SQLite file, through the pure-Go driver modernc.org/sqlite (no cgo).
//
// It is an example of a plugin written outside the host: it imports only
// the SDK. The host starts it; run by hand it says so and exits.
package main

import "github.com/wadi-go/wadi/sdk"

func main() { sdk.Serve(New()) }
