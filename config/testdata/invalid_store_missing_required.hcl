store "remote" {
}
