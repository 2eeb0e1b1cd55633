"""links/transmission"""
