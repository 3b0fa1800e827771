http {
  listen = "8080"
}
