plugin "sqlite" {
  path = "/opt/wadi/sqlite"
  sha256 = "abc"
}
