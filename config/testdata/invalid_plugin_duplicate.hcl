plugin "sqlite" {
  path = "/a"
}
plugin "sqlite" {
  path = "/b"
}
