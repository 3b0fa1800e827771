node {
  name = upper("red")
}
