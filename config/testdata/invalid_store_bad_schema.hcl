store "broken" {
}
