"""Networks: transformer (Johnson / conditional IN), AdaIN decoder."""
