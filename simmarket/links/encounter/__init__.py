"""links/encounter"""
