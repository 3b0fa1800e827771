store "file" {
  fsync = "sometimes"
}
