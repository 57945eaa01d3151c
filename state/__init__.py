"""streamrec.state"""
