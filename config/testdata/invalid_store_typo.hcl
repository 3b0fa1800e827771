store "file" {
  path = "x.db"
  fsynk = true
}
