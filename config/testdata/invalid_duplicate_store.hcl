store "file" {
}

store "file" {
}
