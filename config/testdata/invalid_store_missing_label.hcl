store {
}
