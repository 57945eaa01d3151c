"""streamrec.bench"""
