store "flie" {
  path = "x.db"
}
