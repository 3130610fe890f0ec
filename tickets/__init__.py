"""tickets: lottery tickets under adversarial attack."""
