http {
  # Formatting this number as a string would take minutes.
  listen = "${1e100000000}"
}
