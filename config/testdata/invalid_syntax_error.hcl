node {
  name = "red"
