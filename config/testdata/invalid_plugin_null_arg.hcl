plugin "lz" {
  path = "/opt/lz"
  args = ["-v", null]
}
