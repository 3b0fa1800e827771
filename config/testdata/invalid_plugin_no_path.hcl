plugin "sqlite" {
  args = ["-v"]
}
