// Package examples holds no code of its own: each directory below it is a
// complete WADI plugin, a main package written the way a plugin outside
// this repository is written, importing only the SDK. This package's test
// holds them to that.
package examples
