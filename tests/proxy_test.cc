// proxy tests
