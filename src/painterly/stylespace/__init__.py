"""The style space (issue #8): a VAE over VGG19 channel statistics of paintings.

* :mod:`.vectors`: style vectors (log1p channel mean/std at relu1_1..relu4_1) and their measurement,
* :mod:`.vae`: the VAE over style vectors,
* :mod:`.space`: a trained VAE with named paintings' codes, and ``vae:`` style specs,
* :mod:`.render`: a photo rendered in decoded statistics (AdaIN or optimisation),
* :mod:`.path`: a photo along the latent path between two styles, with its distances.
"""
