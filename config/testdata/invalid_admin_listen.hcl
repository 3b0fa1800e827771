admin {
  listen = "8081"
}
